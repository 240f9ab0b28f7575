import { Router, type NextFunction, type Request, type Response } from 'express';
import { IMPLEMENTATION_VERSION_NAME } from '../../../archive/dicom/part10.ts';
import { capabilityStatement } from '../../../archive/fhir/capability.ts';
import type { FhirUrls } from '../../../archive/fhir/fhir-service.ts';
import { FHIR_JSON, type IssueType, type OperationOutcome } from '../../../archive/fhir/resources.ts';
import { FhirSearchError, parseDiagnosticReportSearch, parseImagingStudySearch } from '../../../archive/fhir/search.ts';
import { message } from '../../../archive/i18n/messages.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { accessOf, noteAudited } from '../access.ts';
import { accepts } from '../dicomweb/multipart.ts';
import { gatewayBase, isUid } from '../dicomweb/urls.ts';
import { HttpProblem } from '../problem.ts';

const RESPONSE_TYPES = [FHIR_JSON, 'application/json'];

/**
 * FHIR R4 read access at /fhir (archive/fhir/): ImagingStudy and DiagnosticReport, read and
 * search, and the CapabilityStatement at /fhir/metadata. Answers are application/fhir+json;
 * every refusal, the access policy's included, is an OperationOutcome (`fhirOutcomes`).
 */
export function fhirRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  const publishedAt = new Date().toISOString();

  router.use((request, _response, next) => {
    if (!accepts(request.get('accept'), RESPONSE_TYPES)) return next(new HttpProblem(406, 'problem.notAcceptable', 'resources are available as application/fhir+json only'));
    next();
  });

  router.get('/metadata', (request, response) => {
    send(response, capabilityStatement(urlsOf(request).fhir, { name: 'Yingyun', version: IMPLEMENTATION_VERSION_NAME }, publishedAt));
  });

  router.get('/ImagingStudy', async (request, response) => {
    const search = parseSearch(() => parseImagingStudySearch(request.query as Record<string, string | string[]>));
    const { bundle, audited } = await runtime.fhir.searchImagingStudies(search, unmaskedVisibility(response), urlsOf(request));
    noteAudited(response, audited);
    send(response, bundle);
  });

  router.get('/ImagingStudy/:id', async (request, response) => {
    const { id } = request.params;
    const found = isUid(id) ? await runtime.fhir.readImagingStudy(id, unmaskedVisibility(response), urlsOf(request)) : null;
    if (!found) throw new HttpProblem(404, 'problem.notFound', `no ImagingStudy ${id} is here`);
    noteAudited(response, found.audited);
    send(response, found.resource);
  });

  router.get('/DiagnosticReport', async (request, response) => {
    const search = parseSearch(() => parseDiagnosticReportSearch(request.query as Record<string, string | string[]>));
    const { bundle, audited } = await runtime.fhir.searchDiagnosticReports(search, unmaskedVisibility(response), urlsOf(request));
    noteAudited(response, audited);
    send(response, bundle);
  });

  router.get(['/DiagnosticReport/:id', '/DiagnosticReport/:id/_history/:version'], async (request, response) => {
    const { id, version } = request.params as { id: string; version?: string };
    const found = await runtime.fhir.readDiagnosticReport(id, unmaskedVisibility(response), urlsOf(request), version);
    if (!found) throw new HttpProblem(404, 'problem.notFound', `no DiagnosticReport ${id}${version ? ` version ${version}` : ''} is here`);
    noteAudited(response, found.audited);
    send(response, found.resource);
  });

  router.use((request, _response, next) => next(new HttpProblem(404, 'problem.notFound', `no FHIR resource at ${request.path}: this server has ImagingStudy and DiagnosticReport (see /fhir/metadata)`)));
  return router;
}

/**
 * Every error under /fhir as an OperationOutcome, with the same status and the same catalogue text
 * as the problem JSON elsewhere: FHIR clients read OperationOutcome, not RFC 9457.
 */
export function fhirOutcomes(log: { warn: (obj: object, msg: string) => void; error: (obj: object, msg: string) => void }) {
  return (error: unknown, request: Request, response: Response, _next: NextFunction): void => {
    const problem = error instanceof HttpProblem ? error : new HttpProblem(500, 'problem.internal', 'the server could not complete the request; it has been logged');
    const context = { method: request.method, url: request.originalUrl, status: problem.status };
    if (problem.status >= 500) log.error({ ...context, err: error }, 'FHIR request failed');
    else log.warn({ ...context, detail: problem.detail }, 'FHIR request rejected');
    if (response.headersSent) {
      response.destroy();
      return;
    }
    const outcome: OperationOutcome = {
      resourceType: 'OperationOutcome',
      issue: [{ severity: problem.status >= 500 ? 'fatal' : 'error', code: issueType(problem.status), details: { text: message(problem.titleKey, request.headers['accept-language']) }, diagnostics: problem.detail }],
    };
    response.status(problem.status).type(FHIR_JSON).send(JSON.stringify(outcome));
  };
}

function issueType(status: number): IssueType {
  return ({ 400: 'invalid', 401: 'login', 403: 'forbidden', 404: 'not-found', 406: 'not-supported', 429: 'throttled', 503: 'transient' } as Record<number, IssueType>)[status] ?? (status >= 500 ? 'exception' : 'processing');
}

function parseSearch<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof FhirSearchError) throw new HttpProblem(400, 'problem.badRequest', error.message);
    throw error;
  }
}

/** FHIR resources name the patient: a role that works with identities masked gets none. */
function unmaskedVisibility(response: Response) {
  const { visibility } = accessOf(response);
  if (visibility.maskIdentity) throw new HttpProblem(403, 'problem.forbidden', 'identity is masked for your role, and FHIR resources name the patient');
  return visibility;
}

function urlsOf(request: Request): FhirUrls {
  const gateway = gatewayBase(request);
  return { gateway, fhir: `${gateway}/fhir`, dicomWeb: `${gateway}/dicom-web`, self: `${gateway}${request.originalUrl}` };
}

function send(response: Response, resource: object): void {
  response.status(200).type(FHIR_JSON).send(JSON.stringify(resource));
}
