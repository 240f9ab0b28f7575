import express, { Router } from 'express';
import { PersonRefusal, type TimelineStudy } from '../../../archive/person/person-service.ts';
import { markAbsenceLabels } from '../../../archive/recognition/recognition-service.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { accessOf, actorOf, noteAudited } from '../access.ts';
import { isUid } from '../dicomweb/urls.ts';
import { answeringRefusals, HttpProblem } from '../problem.ts';
import { rowIdParameter } from './path-parameters.ts';

const TITLES = { 400: 'problem.badRequest', 403: 'problem.forbidden', 404: 'problem.notFound' } as const;

/**
 * The person index (docs/recognition.md, "Linking in the archive"), thin: parse, call the person
 * service, note what the audit event records, answer. Who may call which is the access table's;
 * whose records an institution administrator may link is the service's.
 */
export function personRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  const service = runtime.persons;
  const body = express.json({ limit: '16kb' });

  const answering = answeringRefusals(PersonRefusal, TITLES);
  const text = (value: unknown, name: string): string => {
    if (typeof value !== 'string' || value.trim() === '') throw new HttpProblem(400, 'problem.badRequest', `${name} is required`);
    return value;
  };

  // The identifier is not written to the audit trail: the route's query would put the number there in
  // plain text, which the index itself never stores.
  router.get(
    '/persons',
    answering(async (request, response) => {
      const found = await service.lookup(text(request.query.identifier, 'identifier'), accessOf(response).visibility);
      noteAudited(response, { studyUids: found.flatMap((person) => person.studies.map((study) => study.studyInstanceUid)), detail: { query: 'identifier=(withheld)', personIds: found.map((person) => person.personId) } });
      response.json(found);
    }),
  );

  // The person page's timeline: each study with its QC grade (on the caller's centre's scales, as
  // the grading screen shows them) and its HR mark today, with the reasons when it has none.
  router.get(
    '/persons/:id',
    answering(async (request, response) => {
      const { visibility, principal } = accessOf(response);
      const studies = await service.studiesOf(rowIdParameter(request.params.id, 'person'), visibility);
      const uids = studies.map((study) => study.studyInstanceUid);
      const [grades, marks, identifiers] = await Promise.all([runtime.quality.studyGrades(uids, principal.institutionId), runtime.recognition.marks(uids), service.identifiersOf(studies, visibility)]);
      // The event says which kinds of number were shown, never the numbers.
      noteAudited(response, { studyUids: uids, detail: { personId: request.params.id, identifiersShown: identifiers.map((identifier) => identifier.kind) } });
      const timeline = studies.map((study): TimelineStudy => {
        const mark = marks.get(study.studyInstanceUid);
        return { ...study, qcGrade: grades.get(study.studyInstanceUid) ?? null, hrMark: mark ?? null, hrMarkAbsence: markAbsenceLabels(mark) };
      });
      response.json({ personId: request.params.id, identifiers, studies: timeline });
    }),
  );

  router.get(
    '/studies/:study/person',
    answering(async (request, response) => {
      const study = request.params.study;
      if (typeof study !== 'string' || !isUid(study)) throw new HttpProblem(400, 'problem.badRequest', `${JSON.stringify(study)} is not a study UID`);
      response.json({ personId: await service.personOfStudy(study) });
    }),
  );

  router.get(
    '/person-suggestions',
    answering(async (request, response) => {
      const suggestions = await service.openSuggestions(actorOf(request, response));
      noteAudited(response, { detail: { suggestionIds: suggestions.map((suggestion) => suggestion.id) } });
      response.json(suggestions);
    }),
  );

  router.post(
    '/person-links',
    body,
    answering(async (request, response) => {
      await service.linkManually(actorOf(request, response), rowIdParameter(request.body?.patientPk, 'patientPk'), rowIdParameter(request.body?.personId, 'personId'), text(request.body?.reason, 'reason'));
      response.status(204).end();
    }),
  );

  router.post(
    '/person-unlinks',
    body,
    answering(async (request, response) => {
      const personId = await service.unlink(actorOf(request, response), rowIdParameter(request.body?.patientPk, 'patientPk'), text(request.body?.reason, 'reason'));
      response.status(200).json({ personId });
    }),
  );

  router.post(
    '/person-merges',
    body,
    answering(async (request, response) => {
      await service.merge(actorOf(request, response), rowIdParameter(request.body?.intoPersonId, 'intoPersonId'), rowIdParameter(request.body?.fromPersonId, 'fromPersonId'), text(request.body?.reason, 'reason'));
      response.status(204).end();
    }),
  );

  router.post(
    '/person-suggestions/:id/dismissal',
    body,
    answering(async (request, response) => {
      await service.dismissSuggestion(actorOf(request, response), rowIdParameter(request.params.id, 'suggestion'), text(request.body?.reason, 'reason'));
      response.status(204).end();
    }),
  );

  router.get(
    '/admin/institutions/:id/identifier-rules',
    answering(async (request, response) => {
      response.json(await service.identifierRules(actorOf(request, response), rowIdParameter(request.params.id, 'institution')));
    }),
  );

  router.put(
    '/admin/institutions/:id/identifier-rules',
    body,
    answering(async (request, response) => {
      response.json(await service.setIdentifierRules(actorOf(request, response), rowIdParameter(request.params.id, 'institution'), request.body));
    }),
  );
  return router;
}
