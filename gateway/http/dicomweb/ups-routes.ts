import express, { Router, type Request, type Response } from 'express';
import { auditPatientId } from '../../../archive/audit/audit-event.ts';
import { maskIdentity } from '../../../archive/access/masking.ts';
import { personNameText } from '../../../archive/dicom/normalize.ts';
import type { DicomJsonPersonName } from '../../../archive/dicom/types.ts';
import { firstValue, WORKITEM_TAGS, type Workitem } from '../../../archive/reading/workitem.ts';
import { eventChannelUrl } from '../../../archive/reading/ups-event-report.ts';
import { WorklistRefusal, type WorklistWarning } from '../../../archive/reading/worklist-service.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { accessOf, noteAudited } from '../access.ts';
import { HttpProblem } from '../problem.ts';
import { accepts } from './multipart.ts';
import { dicomWebBase, gatewayBase } from './urls.ts';

const RESPONSE_TYPES = ['application/dicom+json', 'application/json'];
const TITLES = { 400: 'problem.badRequest', 403: 'problem.forbidden', 404: 'problem.notFound', 409: 'problem.conflict' } as const;

/**
 * UPS-RS, the Worklist Service (PS3.18 11): thin — parse, call the worklist service, answer. The
 * PS3.4 status of a refusal or warning goes in a Warning header (PS3.18 11.1.3) and, for a refusal,
 * in the problem JSON as `dicomStatus`.
 */
export function upsRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  const { worklist, upsSubscriptions } = runtime;
  const body = express.json({ type: ['application/dicom+json', 'application/json'], limit: '1mb' });

  const answering = (handler: (request: Request, response: Response) => Promise<void>) => async (request: Request, response: Response) => {
    try {
      await handler(request, response);
    } catch (error) {
      if (!(error instanceof WorklistRefusal)) throw error;
      if (error.dicomStatus) response.append('Warning', warning(request, error.dicomStatus, error.reason));
      throw new HttpProblem(error.httpStatus, TITLES[error.httpStatus], error.reason, error.dicomStatus ? { dicomStatus: error.dicomStatus } : {});
    }
  };
  const acceptable = (request: Request) => {
    if (!accepts(request.get('accept'), RESPONSE_TYPES)) throw new HttpProblem(406, 'problem.notAcceptable', 'workitems are available as application/dicom+json only');
  };
  const served = (response: Response, workitem: Workitem): Workitem => (accessOf(response).visibility.maskIdentity ? maskIdentity(workitem) : workitem);

  router.post(
    '/workitems',
    body,
    answering(async (request, response) => {
      const requested = typeof request.query.workitem === 'string' ? request.query.workitem : undefined;
      const { sopInstanceUid, workitem } = await worklist.create(accessOf(response).principal, request.body, requested);
      noteAudited(response, audited(workitem));
      response.status(201).location(`${dicomWebBase(request)}/workitems/${sopInstanceUid}`).end();
    }),
  );

  router.get(
    '/workitems',
    answering(async (request, response) => {
      acceptable(request);
      const { visibility } = accessOf(response);
      const { workitems, more, notMatched } = await worklist.search(request.query as Record<string, string | string[]>, visibility);
      noteAudited(response, { studyUids: [...new Set(workitems.flatMap(studiesOf))] });
      if (notMatched.length) response.append('Warning', `299 ${agent(request)} "The following attributes are not supported for matching; they did not narrow the search: ${notMatched.join(', ')}"`);
      if (more) response.append('Warning', `299 ${agent(request)} "There are additional results that can be requested"`);
      response.status(200).type('application/dicom+json').send(JSON.stringify(workitems.map((workitem) => served(response, withoutLock(workitem)))));
    }),
  );

  router.get(
    '/workitems/:workitem',
    answering(async (request, response) => {
      acceptable(request);
      const workitem = await worklist.retrieve(request.params.workitem as string, accessOf(response).visibility);
      noteAudited(response, audited(workitem));
      response.status(200).type('application/dicom+json').send(JSON.stringify([served(response, withoutLock(workitem))]));
    }),
  );

  router.post(
    '/workitems/:workitem',
    body,
    answering(async (request, response) => {
      const transaction = typeof request.query.transaction === 'string' ? request.query.transaction : undefined;
      const workitem = await worklist.update(request.params.workitem as string, transaction, request.body, accessOf(response).visibility);
      noteAudited(response, audited(workitem));
      response.status(200).end();
    }),
  );

  router.put(
    '/workitems/:workitem/state',
    body,
    answering(async (request, response) => {
      const { principal, visibility } = accessOf(response);
      const { workitem, warning: already } = await worklist.changeState(request.params.workitem as string, request.body, principal, visibility);
      noteAudited(response, audited(workitem));
      warn(request, response, already);
      response.status(200).end();
    }),
  );

  router.post(
    '/workitems/:workitem/cancelrequest',
    body,
    answering(async (request, response) => {
      const { warning: already } = await worklist.requestCancellation(request.params.workitem as string, request.body, accessOf(response).visibility);
      noteAudited(response, { detail: { workitem: request.params.workitem } });
      warn(request, response, already);
      response.status(202).end();
    }),
  );

  // Subscriptions (PS3.18 11 Create, Suspend, Delete Subscription): {workitem} is a workitem's UID or
  // a well-known one (global 1.2.840.10008.5.1.4.34.5, filtered global 1.2.840.10008.5.1.4.34.5.1).
  router.post(
    '/workitems/:workitem/subscribers/:aetitle',
    answering(async (request, response) => {
      const { principal, visibility } = accessOf(response);
      const { workitem, aetitle } = request.params as { workitem: string; aetitle: string };
      await upsSubscriptions.subscribe(principal, visibility, workitem, aetitle, request.query as Record<string, string | string[]>);
      noteAudited(response, { detail: { workitem, subscriber: aetitle } });
      response.status(201).set('Content-Location', eventChannelUrl(gatewayBase(request), aetitle)).end();
    }),
  );

  router.post(
    '/workitems/:workitem/subscribers/:aetitle/suspend',
    answering(async (request, response) => {
      const { workitem, aetitle } = request.params as { workitem: string; aetitle: string };
      await upsSubscriptions.suspend(accessOf(response).principal, workitem, aetitle);
      noteAudited(response, { detail: { workitem, subscriber: aetitle } });
      response.status(200).end();
    }),
  );

  router.delete(
    '/workitems/:workitem/subscribers/:aetitle',
    answering(async (request, response) => {
      const { principal, visibility } = accessOf(response);
      const { workitem, aetitle } = request.params as { workitem: string; aetitle: string };
      await upsSubscriptions.unsubscribe(principal, visibility, workitem, aetitle);
      noteAudited(response, { detail: { workitem, subscriber: aetitle } });
      response.status(200).end();
    }),
  );
  return router;
}

/**
 * PS3.4 CC.2.1.3: the Transaction UID is the performer's lock, never served. It lives in its own
 * column and no dataset carrying one is stored; this is the last check at the wire all the same.
 */
function withoutLock(workitem: Workitem): Workitem {
  const { [WORKITEM_TAGS.transactionUid]: _lock, ...rest } = workitem;
  return rest;
}

function studiesOf(workitem: Workitem): string[] {
  return [WORKITEM_TAGS.referencedRequestSequence, WORKITEM_TAGS.inputInformationSequence].flatMap((tag) =>
    (workitem[tag]?.Value ?? []).map((item) => (item && typeof item === 'object' ? firstValue(item as Workitem, WORKITEM_TAGS.studyInstanceUid) : undefined)).filter((uid): uid is string => !!uid),
  );
}

/** What the audit event names: the workitem, its patient and the studies it is about. */
function audited(workitem: Workitem): { studyUids: string[]; patientId?: string; patientName?: string; detail: Record<string, unknown> } {
  const patientId = firstValue(workitem, WORKITEM_TAGS.patientId);
  const name = workitem[WORKITEM_TAGS.patientName]?.Value?.[0];
  return {
    studyUids: [...new Set(studiesOf(workitem))],
    patientId: patientId === undefined ? undefined : auditPatientId(firstValue(workitem, WORKITEM_TAGS.issuerOfPatientId), patientId),
    patientName: name && typeof name === 'object' ? personNameText(name as DicomJsonPersonName) : undefined,
    detail: { workitem: firstValue(workitem, WORKITEM_TAGS.sopInstanceUid), state: firstValue(workitem, WORKITEM_TAGS.procedureStepState) },
  };
}

function warn(request: Request, response: Response, already: WorklistWarning | undefined): void {
  if (already) response.append('Warning', warning(request, already.dicomStatus, already.reason));
}

/** RFC 9111 5.5 with the PS3.4 status first in the text, as PS3.18 11 asks: 299 host "C301: …". */
function warning(request: Request, dicomStatus: string, reason: string): string {
  return `299 ${agent(request)} "${`${dicomStatus}: ${reason}`.replace(/[\\"]/g, (character) => `\\${character}`)}"`;
}

function agent(request: Request): string {
  return new URL(gatewayBase(request)).host;
}
