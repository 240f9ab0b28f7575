import express, { Router, type Request, type Response } from 'express';
import type { Actor } from '../../../archive/access/administration.ts';
import { PersonRefusal } from '../../../archive/person/person-service.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { accessOf, noteAudited } from '../access.ts';
import { answeringRefusals, HttpProblem } from '../problem.ts';

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
  const actor = (request: Request, response: Response): Actor => {
    const { principal } = accessOf(response);
    return { username: principal.username, role: principal.role, institutionId: principal.institutionId, sourceAddress: request.ip };
  };
  const text = (value: unknown, name: string): string => {
    if (typeof value !== 'string' || value.trim() === '') throw new HttpProblem(400, 'problem.badRequest', `${name} is required`);
    return value;
  };
  const id = (value: unknown, name: string): string => {
    if (typeof value !== 'string' || !/^\d{1,18}$/.test(value)) throw new HttpProblem(400, 'problem.badRequest', `${name} must be a number in a string`);
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

  router.get(
    '/persons/:id',
    answering(async (request, response) => {
      const studies = await service.studiesOf(id(request.params.id, 'person'), accessOf(response).visibility);
      noteAudited(response, { studyUids: studies.map((study) => study.studyInstanceUid), detail: { personId: request.params.id } });
      response.json({ personId: request.params.id, studies });
    }),
  );

  router.get(
    '/person-suggestions',
    answering(async (request, response) => {
      const suggestions = await service.openSuggestions(actor(request, response));
      noteAudited(response, { detail: { suggestionIds: suggestions.map((suggestion) => suggestion.id) } });
      response.json(suggestions);
    }),
  );

  router.post(
    '/person-links',
    body,
    answering(async (request, response) => {
      await service.linkManually(actor(request, response), id(request.body?.patientPk, 'patientPk'), id(request.body?.personId, 'personId'), text(request.body?.reason, 'reason'));
      response.status(204).end();
    }),
  );

  router.post(
    '/person-unlinks',
    body,
    answering(async (request, response) => {
      const personId = await service.unlink(actor(request, response), id(request.body?.patientPk, 'patientPk'), text(request.body?.reason, 'reason'));
      response.status(200).json({ personId });
    }),
  );

  router.post(
    '/person-merges',
    body,
    answering(async (request, response) => {
      await service.merge(actor(request, response), id(request.body?.intoPersonId, 'intoPersonId'), id(request.body?.fromPersonId, 'fromPersonId'), text(request.body?.reason, 'reason'));
      response.status(204).end();
    }),
  );

  router.post(
    '/person-suggestions/:id/dismissal',
    body,
    answering(async (request, response) => {
      await service.dismissSuggestion(actor(request, response), id(request.params.id, 'suggestion'), text(request.body?.reason, 'reason'));
      response.status(204).end();
    }),
  );

  router.get(
    '/admin/institutions/:id/identifier-rules',
    answering(async (request, response) => {
      response.json(await service.identifierRules(actor(request, response), id(request.params.id, 'institution')));
    }),
  );

  router.put(
    '/admin/institutions/:id/identifier-rules',
    body,
    answering(async (request, response) => {
      response.json(await service.setIdentifierRules(actor(request, response), id(request.params.id, 'institution'), request.body));
    }),
  );
  return router;
}
