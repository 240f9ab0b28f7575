import type { Request, RequestHandler, Response } from 'express';
import type { Actor } from '../../archive/access/administration.ts';
import { hasPermission, parsePurpose, visibilityFor, type Permission, type Principal, type Visibility } from '../../archive/access/policy.ts';
import { auditPatientId, type AuditAction, type AuditEventType } from '../../archive/audit/audit-event.ts';
import type { StudyOwnership } from '../../archive/db/query-repository.ts';
import { QueryRepository } from '../../archive/db/query-repository.ts';
import { InstitutionScopeCache } from '../../archive/access/institution-scope.ts';
import type { Runtime } from '../../workers/runtime.ts';
import { isUid } from './dicomweb/urls.ts';
import { HttpProblem, sendProblem } from './problem.ts';

export const SESSION_COOKIE = 'yingyun_session';
export const CSRF_COOKIE = 'yingyun_csrf';
export const CSRF_HEADER = 'x-csrf-token';
/** Why a clinician opens another institution's study (percent-encoded UTF-8, so Chinese text fits a header). */
export const PURPOSE_HEADER = 'x-purpose-of-use';

type Requirement = Permission | 'public' | 'signed-in';

export interface RouteRule {
  methods: readonly string[];
  path: RegExp;
  requires: Requirement;
  /** Patient-data routes: one audit event per request, of this type. */
  audit?: { eventType: AuditEventType; action: AuditAction };
}

const GET = ['GET', 'HEAD'] as const;
// Any path segment: a malformed UID reaches its handler, which answers 400 saying so.
const UID = '[^/]+';

/**
 * Every route the gateway serves, with what it requires: the policy lives here, in one table, not in
 * the handlers. The first matching rule applies; a path under /api, /dicom-web, /wado or /fhir that no rule
 * names is refused (default deny), and everything else is the viewer's static app, which is public
 * (it holds no patient data and asks for a sign-in itself).
 */
const RULES: readonly RouteRule[] = [
  { methods: GET, path: /^\/(healthz|readyz)$/, requires: 'public' },
  { methods: ['POST'], path: /^\/api\/auth\/login$/, requires: 'public' },
  { methods: GET, path: /^\/api\/auth\/(providers|oidc\/login|oidc\/callback)$/, requires: 'public' },
  { methods: GET, path: /^\/api\/auth\/me$/, requires: 'signed-in' },
  { methods: ['POST'], path: /^\/api\/auth\/logout$/, requires: 'signed-in' },
  // QIDO-RS and the priors list: searches
  { methods: GET, path: new RegExp(`^/dicom-web/(studies|series|instances|studies/${UID}/series|studies/${UID}/instances|studies/${UID}/series/${UID}/instances)$`), requires: 'read-images', audit: { eventType: 'query', action: 'E' } },
  { methods: GET, path: new RegExp(`^/api/studies/${UID}/priors$`), requires: 'read-images', audit: { eventType: 'query', action: 'E' } },
  // WADO-RS, WADO-URI: retrieval of a study's data
  { methods: GET, path: new RegExp(`^/dicom-web/studies/${UID}(/.*)?$`), requires: 'read-images', audit: { eventType: 'instances-accessed', action: 'R' } },
  { methods: GET, path: /^\/wado$/, requires: 'read-images', audit: { eventType: 'instances-accessed', action: 'R' } },
  // STOW-RS
  { methods: ['POST'], path: new RegExp(`^/dicom-web/studies(/${UID})?$`), requires: 'store', audit: { eventType: 'instances-stored', action: 'C' } },
  // UPS-RS worklist: searching it is a query; each workitem is a procedure record
  { methods: GET, path: /^\/dicom-web\/workitems$/, requires: 'read-images', audit: { eventType: 'query', action: 'E' } },
  { methods: GET, path: new RegExp(`^/dicom-web/workitems/${UID}$`), requires: 'read-images', audit: { eventType: 'procedure-record', action: 'R' } },
  { methods: ['POST'], path: /^\/dicom-web\/workitems$/, requires: 'manage-workitems', audit: { eventType: 'procedure-record', action: 'C' } },
  { methods: ['POST'], path: new RegExp(`^/dicom-web/workitems/${UID}(/cancelrequest)?$`), requires: 'manage-workitems', audit: { eventType: 'procedure-record', action: 'U' } },
  { methods: ['PUT'], path: new RegExp(`^/dicom-web/workitems/${UID}/state$`), requires: 'manage-workitems', audit: { eventType: 'procedure-record', action: 'U' } },
  // UPS-RS subscriptions: whoever may read the worklist may follow it (events carry no patient identity)
  { methods: ['POST', 'DELETE'], path: new RegExp(`^/dicom-web/workitems/${UID}/subscribers/${UID}$`), requires: 'read-images', audit: { eventType: 'procedure-record', action: 'E' } },
  { methods: ['POST'], path: new RegExp(`^/dicom-web/workitems/${UID}/subscribers/${UID}/suspend$`), requires: 'read-images', audit: { eventType: 'procedure-record', action: 'E' } },
  { methods: ['POST'], path: new RegExp(`^/api/studies/${UID}/export$`), requires: 'export', audit: { eventType: 'export', action: 'R' } },
  // Sending on (docs/routing.md): a queued send of a study or series to a registered node, and its progress
  { methods: ['POST'], path: new RegExp(`^/api/studies/${UID}/send$`), requires: 'export', audit: { eventType: 'export', action: 'R' } },
  // A send's progress names its study: read like a query of it
  { methods: GET, path: /^\/api\/sends\/[^/]+$/, requires: 'export', audit: { eventType: 'query', action: 'E' } },
  // Reading intake (远程诊断): a hospital's requests and answers, a centre's assignment and returns
  // The worklist screen's context (the user's centre, its readers, turnaround limits): no patient data
  { methods: GET, path: /^\/api\/reading\/context$/, requires: 'signed-in' },
  { methods: ['PUT'], path: /^\/api\/reading\/availability$/, requires: 'manage-workitems' },
  // The centres a request of the caller's institution may go to (the request form's choice): no patient data
  { methods: GET, path: /^\/api\/reading\/centres$/, requires: 'request-reading' },
  { methods: ['POST'], path: /^\/api\/reading\/requests$/, requires: 'request-reading', audit: { eventType: 'procedure-record', action: 'C' } },
  { methods: GET, path: /^\/api\/reading\/requests$/, requires: 'read-images', audit: { eventType: 'query', action: 'E' } },
  { methods: ['POST'], path: new RegExp(`^/api/reading/tasks/${UID}/(assign|return)$`), requires: 'manage-workitems', audit: { eventType: 'procedure-record', action: 'U' } },
  { methods: GET, path: new RegExp(`^/api/reading/tasks/${UID}/notes$`), requires: 'read-images', audit: { eventType: 'procedure-record', action: 'R' } },
  { methods: ['POST'], path: new RegExp(`^/api/reading/tasks/${UID}/notes$`), requires: 'request-reading', audit: { eventType: 'procedure-record', action: 'U' } },
  // Share links (云胶片, doctors' shares): disclosure of a study, so for those who may export it
  { methods: GET, path: new RegExp(`^/api/studies/${UID}/share-links$`), requires: 'export', audit: { eventType: 'query', action: 'E' } },
  { methods: ['POST'], path: new RegExp(`^/api/studies/${UID}/share-links/(patient|doctor|[^/]+/token)$`), requires: 'export', audit: { eventType: 'export', action: 'C' } },
  { methods: ['DELETE'], path: new RegExp(`^/api/studies/${UID}/share-links/[^/]+$`), requires: 'export', audit: { eventType: 'export', action: 'D' } },
  // The patient's cloud film: no account; the link's token and second factor guard it, and
  // ShareLinksService audits every opening and failure itself (gateway/http/film).
  { methods: [...GET, 'POST'], path: /^\/film\/[^/]+(\/images\/[^/]+\/[^/]+\/[^/]+)?$/, requires: 'public' },
  // Live consultations (远程会诊): records of a procedure on a study, naming both participants
  { methods: GET, path: /^\/api\/consultations$/, requires: 'read-images', audit: { eventType: 'query', action: 'E' } },
  { methods: GET, path: new RegExp(`^/api/studies/${UID}/consultations$`), requires: 'read-images', audit: { eventType: 'query', action: 'E' } },
  { methods: ['POST'], path: /^\/api\/consultations$/, requires: 'read-images', audit: { eventType: 'procedure-record', action: 'C' } },
  { methods: GET, path: new RegExp(`^/api/consultations/${UID}$`), requires: 'read-images', audit: { eventType: 'procedure-record', action: 'R' } },
  { methods: ['POST'], path: new RegExp(`^/api/consultations/${UID}/(accept|decline|end|opinion)$`), requires: 'read-images', audit: { eventType: 'procedure-record', action: 'U' } },
  // Reports (初诊 + 审核): reading one is access to the study's data; writing and signing are records of the reading
  { methods: GET, path: new RegExp(`^/api/studies/${UID}/report$`), requires: 'read-images', audit: { eventType: 'instances-accessed', action: 'R' } },
  { methods: ['POST'], path: new RegExp(`^/api/studies/${UID}/report$`), requires: 'write-reports', audit: { eventType: 'procedure-record', action: 'C' } },
  { methods: ['PUT'], path: new RegExp(`^/api/studies/${UID}/report/draft$`), requires: 'write-reports', audit: { eventType: 'procedure-record', action: 'U' } },
  { methods: ['POST'], path: new RegExp(`^/api/studies/${UID}/report/signatures$`), requires: 'write-reports', audit: { eventType: 'procedure-record', action: 'C' } },
  { methods: GET, path: new RegExp(`^/api/studies/${UID}/report/pdf$`), requires: 'read-images', audit: { eventType: 'instances-accessed', action: 'R' } },
  // Image QC (质控): the scales and defects hold no patient data; a study's grades and grading it are records of a procedure on it
  { methods: GET, path: /^\/api\/quality\/scales\/[^/]+$/, requires: 'grade-quality' },
  { methods: GET, path: new RegExp(`^/api/studies/${UID}/quality-grades$`), requires: 'grade-quality', audit: { eventType: 'procedure-record', action: 'R' } },
  { methods: ['POST'], path: new RegExp(`^/api/studies/${UID}/series/${UID}/quality-grades$`), requires: 'grade-quality', audit: { eventType: 'procedure-record', action: 'C' } },
  // QC work lists: the month's list names studies (a search); a centre's sampling rules and thresholds are its
  // administrator's and hold no patient data; a clinician's flag and a report's QC grade are records of a procedure on the study
  { methods: GET, path: /^\/api\/quality\/worklist$/, requires: 'grade-quality', audit: { eventType: 'query', action: 'E' } },
  { methods: [...GET, 'PUT'], path: /^\/api\/quality\/worklist-settings$/, requires: 'manage-institution' },
  { methods: ['POST'], path: new RegExp(`^/api/studies/${UID}/qc-flags$`), requires: 'read-images', audit: { eventType: 'procedure-record', action: 'C' } },
  { methods: GET, path: new RegExp(`^/api/studies/${UID}/report-quality-grades$`), requires: 'grade-quality', audit: { eventType: 'procedure-record', action: 'R' } },
  { methods: ['POST'], path: new RegExp(`^/api/studies/${UID}/report-quality-grades$`), requires: 'grade-quality', audit: { eventType: 'procedure-record', action: 'C' } },
  // FHIR R4 read access: the same scopes as QIDO-RS; the CapabilityStatement is public, as FHIR clients expect
  { methods: GET, path: /^\/fhir\/metadata$/, requires: 'public' },
  { methods: GET, path: /^\/fhir\/(ImagingStudy|DiagnosticReport)$/, requires: 'read-images', audit: { eventType: 'query', action: 'E' } },
  { methods: GET, path: new RegExp(`^/fhir/(ImagingStudy/${UID}|DiagnosticReport/${UID}(/_history/${UID})?)$`), requires: 'read-images', audit: { eventType: 'instances-accessed', action: 'R' } },
  { methods: GET, path: /^\/api\/reports$/, requires: 'read-images', audit: { eventType: 'query', action: 'E' } },
  { methods: GET, path: /^\/api\/report-statuses$/, requires: 'read-images', audit: { eventType: 'query', action: 'E' } },
  { methods: [...GET, 'POST'], path: /^\/api\/report-templates$/, requires: 'write-reports' },
  { methods: GET, path: /^\/api\/report-settings$/, requires: 'write-reports' },
  { methods: ['PUT'], path: /^\/api\/report-settings$/, requires: 'manage-institution' },
  { methods: ['PUT'], path: new RegExp(`^/api/report-readers/${UID}$`), requires: 'manage-institution' },
  // Critical findings (危急值): the list and a hospital's receiving settings hold no patient data;
  // notices, acknowledgements and the register do
  { methods: GET, path: /^\/api\/critical-findings\/categories$/, requires: 'signed-in' },
  { methods: ['PUT'], path: new RegExp(`^/api/critical-findings/categories/${UID}$`), requires: 'manage-system' },
  { methods: [...GET, 'PUT'], path: new RegExp(`^/api/critical-findings/settings/${UID}$`), requires: 'manage-institution' },
  { methods: ['POST'], path: /^\/api\/critical-findings$/, requires: 'write-reports', audit: { eventType: 'procedure-record', action: 'C' } },
  { methods: GET, path: /^\/api\/critical-findings(\/register)?$/, requires: 'read-images', audit: { eventType: 'query', action: 'E' } },
  { methods: GET, path: /^\/api\/critical-findings\/register\.csv$/, requires: 'read-images', audit: { eventType: 'export', action: 'R' } },
  { methods: GET, path: new RegExp(`^/api/critical-findings/${UID}$`), requires: 'read-images', audit: { eventType: 'procedure-record', action: 'R' } },
  { methods: ['POST'], path: new RegExp(`^/api/critical-findings/${UID}/acknowledge$`), requires: 'read-images', audit: { eventType: 'procedure-record', action: 'U' } },
  { methods: GET, path: new RegExp(`^/api/studies/${UID}/critical-findings$`), requires: 'read-images', audit: { eventType: 'query', action: 'E' } },
  // The person index: lookup by ID number and the person page answer studies, as a search does; the
  // review queue and links name patient records; an institution's identifier rules hold no patient data
  { methods: GET, path: /^\/api\/persons$/, requires: 'read-images', audit: { eventType: 'query', action: 'E' } },
  { methods: GET, path: /^\/api\/persons\/[^/]+$/, requires: 'read-images', audit: { eventType: 'query', action: 'E' } },
  { methods: GET, path: /^\/api\/person-suggestions$/, requires: 'manage-persons', audit: { eventType: 'query', action: 'E' } },
  { methods: ['POST'], path: /^\/api\/person-(links|unlinks|merges)$/, requires: 'manage-persons' },
  // Pulling a person's earlier studies from hospitals' PACS (docs/query-retrieve.md): whoever sees the person may ask
  { methods: [...GET, 'POST'], path: /^\/api\/persons\/[^/]+\/prior-fetches$/, requires: 'read-images', audit: { eventType: 'query', action: 'E' } },
  { methods: ['POST'], path: /^\/api\/person-suggestions\/[^/]+\/dismissal$/, requires: 'manage-persons' },
  { methods: [...GET, 'PUT'], path: /^\/api\/admin\/institutions\/[^/]+\/identifier-rules$/, requires: 'manage-institution' },
  // The person of a study (the study list's way to a person's page): the study's visibility is checked as for its other routes
  { methods: GET, path: new RegExp(`^/api/studies/${UID}/person$`), requires: 'read-images', audit: { eventType: 'query', action: 'E' } },
  // A QC centre's scales and defect catalogue: its institution administrator's (QualityService checks whose); no patient data
  { methods: [...GET, 'PUT'], path: /^\/api\/admin\/quality-configuration$/, requires: 'manage-institution' },
  // Recognition (互认): the reason list holds no patient data; a prior view and a decision are records of a
  // procedure on another institution's study; a study's decisions are its institution's feedback
  { methods: GET, path: /^\/api\/recognition\/reasons$/, requires: 'record-recognition' },
  { methods: ['POST'], path: new RegExp(`^/api/studies/${UID}/(prior-views|recognition-decisions)$`), requires: 'record-recognition', audit: { eventType: 'procedure-record', action: 'C' } },
  { methods: GET, path: new RegExp(`^/api/studies/${UID}/recognition-decisions$`), requires: 'read-images', audit: { eventType: 'query', action: 'E' } },
  // The region's statistics: figures hold no patient data; the drill-down lists studies, and an export leaves the system
  { methods: GET, path: /^\/api\/statistics$/, requires: 'view-statistics' },
  { methods: GET, path: /^\/api\/statistics\/drill-down$/, requires: 'view-statistics', audit: { eventType: 'query', action: 'E' } },
  { methods: GET, path: /^\/api\/statistics\/export\.(csv|xlsx)$/, requires: 'view-statistics', audit: { eventType: 'export', action: 'R' } },
  // The HR mark's configuration (互认项目, 互认资质): no patient data; a system administrator, or a reading
  // centre's administrator for its region and below (RecognitionService decides whose), every change audited there
  { methods: [...GET, 'PUT'], path: /^\/api\/admin\/regions\/[^/]+\/recognition$/, requires: 'manage-institution' },
  { methods: GET, path: /^\/api\/admin\/regions\/[^/]+\/accreditations$/, requires: 'manage-institution' },
  { methods: GET, path: /^\/api\/admin\/recognition-regions$/, requires: 'manage-institution' },
  { methods: ['POST'], path: /^\/api\/admin\/accreditations(\/[^/]+\/withdrawal)?$/, requires: 'manage-institution' },
  // A county edge (docs/edge.md): the SHA-256 of what the caller's institution stored, asked before the edge
  // deletes its copy (a query about instances, audited; only of objects the caller's institution sent); the
  // edge's status page (counts, no patient data)
  { methods: ['POST'], path: /^\/api\/instance-digests$/, requires: 'store', audit: { eventType: 'query', action: 'E' } },
  { methods: GET, path: /^\/(edge|api\/edge\/status)$/, requires: 'manage-system' },
  // Every process's Prometheus figures and the status page's (系统状态): counts and latencies, no patient
  // data, but they name senders; a scraper uses a system administrator's API token
  { methods: GET, path: /^\/(metrics|api\/admin\/status)$/, requires: 'manage-system' },
  // Administration and audit
  { methods: [...GET, 'POST'], path: /^\/api\/(stats|jobs|jobs\/retry)$/, requires: 'manage-system' },
  { methods: [...GET, 'POST', 'PATCH', 'DELETE'], path: /^\/api\/admin\/(regions|institutions)(\/[^/]+)?$/, requires: 'manage-system' },
  { methods: [...GET, 'POST', 'PATCH', 'DELETE'], path: /^\/api\/admin\/(users|peers|tokens)(\/[^/]+)?$/, requires: 'manage-institution' },
  // Reading rules: a centre's institution administrator keeps its own (ReadingService checks whose)
  { methods: [...GET, 'POST', 'PATCH', 'DELETE'], path: /^\/api\/admin\/reading-rules(\/[^/]+)?$/, requires: 'manage-institution' },
  { methods: ['PUT'], path: /^\/api\/admin\/turnaround-limits$/, requires: 'manage-system' },
  // Routing rules, DICOMweb nodes, forward queues and dead letters (docs/routing.md)
  { methods: [...GET, 'POST', 'PATCH', 'DELETE'], path: /^\/api\/admin\/(routing-rules|dicomweb-nodes)(\/[^/]+)?$/, requires: 'manage-system' },
  { methods: [...GET, 'PUT', 'DELETE'], path: /^\/api\/admin\/prior-fetch-sources(\/[^/]+)?$/, requires: 'manage-system' },
  { methods: [...GET, 'POST'], path: /^\/api\/admin\/forward-queues(\/dead-letters(\/retry)?)?$/, requires: 'manage-system' },
  { methods: GET, path: /^\/api\/audit(\/events|\/export\.csv|\/export\.xml|\/verify)$/, requires: 'read-audit', audit: { eventType: 'audit-log-used', action: 'R' } },
];

// Case-insensitive on purpose: the rules above are matched case-sensitively, so /DICOM-WEB/… or /Api/…
// is under a guarded prefix that no rule names, and is refused like any other unnamed path.
const GUARDED_PREFIX = /^\/(api|dicom-web|wado|fhir)(\/|$)/i;
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface RequestAccess {
  principal: Principal;
  visibility: Visibility;
  /** The study the URL names, once the policy has found it visible. */
  study?: StudyOwnership;
}

/** What a handler may see: set by `accessControl` before any route runs. */
export function accessOf(response: Response): RequestAccess {
  const access = response.locals.access as RequestAccess | undefined;
  if (!access) throw new Error('route reached without access control');
  return access;
}

/** Who makes an administrative change, as the services that audit one want them. */
export function actorOf(request: Request, response: Response): Actor {
  const { principal } = accessOf(response);
  return { username: principal.username, role: principal.role, institutionId: principal.institutionId, sourceAddress: request.ip };
}

/** What a patient-data handler found, for its audit event: the studies (and patient) it returned or stored. */
export function noteAudited(response: Response, found: { studyUids?: string[]; patientId?: string; patientName?: string; detail?: Record<string, unknown> }): void {
  response.locals.audited = { ...(response.locals.audited as object | undefined), ...found };
}

/**
 * Authentication, authorisation, study visibility and the audit of patient data, for every request,
 * before any handler. Handlers take `accessOf(response).visibility` into their queries.
 */
export function accessControl(runtime: Runtime): RequestHandler {
  const studies = new QueryRepository(runtime.db.pool);
  const institutionScopes = new InstitutionScopeCache(runtime.institutions);
  return (request, response, next) => {
    const rule = ruleFor(request.method, request.path);
    if (!rule && !GUARDED_PREFIX.test(request.path)) return next();
    if (rule?.requires === 'public') return next();
    authorise(request, response, rule, studies, institutionScopes, runtime).then(() => next(), next);
  };
}

/** The rule that governs a request, if any (exported for the test that walks the router's routes). */
export function ruleFor(method: string, path: string): RouteRule | undefined {
  return RULES.find((candidate) => candidate.methods.includes(method) && candidate.path.test(path));
}

export function isGuardedPath(path: string): boolean {
  return GUARDED_PREFIX.test(path);
}

/**
 * The one normalisation point, before the access table and the router: the path is percent-decoded
 * once, and the request continues with that decoded path, so the table, the audit event and the
 * handler's parameters all read the same value (a decoded path holds no '%' left to decode twice).
 * A path that cannot be put in that form unambiguously — bad or encoded separators, dot segments,
 * empty segments, control or non-ASCII characters — is refused here, whatever it was aiming at.
 */
export function canonicalPath(): RequestHandler {
  return (request, _response, next) => {
    const queryAt = request.url.indexOf('?');
    const rawPath = queryAt === -1 ? request.url : request.url.slice(0, queryAt);
    const refuse = (why: string) => next(new HttpProblem(400, 'problem.badRequest', `the request path ${why}`));
    if (!rawPath.startsWith('/')) return refuse('must start with /');
    let segments: string[];
    try {
      segments = rawPath.slice(1).split('/').map((segment) => decodeURIComponent(segment));
    } catch {
      return refuse('holds a malformed percent-encoding');
    }
    for (const [index, segment] of segments.entries()) {
      if (/[^\x21-\x7e]/.test(segment)) return refuse('holds a character outside printable ASCII');
      if (/[/\\%]/.test(segment)) return refuse('holds an encoded separator or percent sign');
      if (segment === '.' || segment === '..') return refuse('holds a dot segment');
      if (segment === '' && index < segments.length - 1) return refuse('holds an empty segment');
    }
    const decodedPath = `/${segments.join('/')}`;
    if (decodedPath !== rawPath) request.url = decodedPath + (queryAt === -1 ? '' : request.url.slice(queryAt));
    next();
  };
}

async function authorise(request: Request, response: Response, rule: RouteRule | undefined, studies: QueryRepository, scopes: InstitutionScopeCache, runtime: Runtime): Promise<void> {
  const bearer = /^Bearer (\S+)$/i.exec(request.get('authorization') ?? '')?.[1];
  const sessionCookie = (request.cookies as Record<string, string> | undefined)?.[SESSION_COOKIE];
  const authenticated = await runtime.auth.authenticate({ bearer, sessionCookie });
  const denied = (status: 401 | 403 | 404, reason: string, principal?: Principal) => {
    // Refusals of patient-data routes, and of any guarded path no rule names (a probe: /DICOM-WEB/…, /API/…).
    if (rule?.audit || !rule) {
      runtime.audit.recordInBackground({
        eventType: 'access-denied',
        action: rule?.audit?.action ?? 'R',
        outcome: 4,
        userName: principal?.username,
        userRole: principal?.role,
        institutionId: principal?.institutionId ?? undefined,
        sourceAddress: request.ip,
        detail: { method: request.method, route: request.path, status, reason },
      });
    }
    if (status === 401) return new HttpProblem(401, 'problem.unauthorized', reason);
    if (status === 403) return new HttpProblem(403, 'problem.forbidden', reason);
    return new HttpProblem(404, 'problem.notFound', reason);
  };
  if (!authenticated) throw denied(401, bearer || sessionCookie ? 'the credentials are not valid (expired, revoked or unknown)' : 'sign in, or send an API token as Authorization: Bearer');
  const { principal } = authenticated;
  if (authenticated.renewed) setSessionCookie(response, authenticated.renewed.token, authenticated.renewed.expiresAt, isSecure(request));
  if (authenticated.csrfToken && UNSAFE_METHODS.has(request.method) && request.get(CSRF_HEADER) !== authenticated.csrfToken) {
    throw denied(403, `a signed-in browser must echo the ${CSRF_COOKIE} cookie in the X-CSRF-Token header`, principal);
  }
  if (!rule) throw denied(404, `no resource at ${request.path}`, principal);
  if (rule.requires !== 'signed-in' && rule.requires !== 'public' && !hasPermission(principal.role, rule.requires)) {
    throw denied(403, `the ${principal.role} role may not ${describe(rule.requires)}`, principal);
  }
  const purpose = parsePurpose(decodeHeader(request.get(PURPOSE_HEADER)));
  const scope = await scopes.of(principal.institutionId);
  // Grants open single studies for reading only, so only reading routes ask for them (and always
  // afresh: a revoked grant closes the study at the next request).
  const grantedStudies = rule.requires === 'read-images' ? await runtime.accessGrants.liveGrantsOf(principal.userId) : undefined;
  // A stated purpose widens reading only, as grants do: writing a report, exporting, sharing or storing
  // into a linked patient's study at another institution would turn a reason to look into a standing right.
  // Recording recognition is about a study one reads with that purpose, and writes nothing into it.
  const readingPurpose = rule.requires === 'read-images' || rule.requires === 'record-recognition' ? purpose : null;
  const visibility = visibilityFor(principal, { ownInstitutionKind: scope.kind, regionInstitutionIds: scope.regionInstitutionIds, purpose: readingPurpose, grantedStudies });
  const access: RequestAccess = { principal, visibility };
  response.locals.access = access;

  const studyUid = studyNamedBy(request);
  if (studyUid && (rule.requires === 'read-images' || rule.requires === 'export' || rule.requires === 'store' || rule.requires === 'grade-quality' || rule.requires === 'record-recognition')) {
    const ownership = await studies.studyOwnership(studyUid, visibility);
    // The same answer for "not stored" and "not yours": a 403 would confirm the study exists.
    // Storing into a study not stored yet is fine; into another institution's study is not.
    const refused = rule.requires === 'store' ? ownership !== null && !ownership.visible : !ownership?.visible;
    if (refused) throw denied(404, `no study ${studyUid} is stored here`, principal);
    if (ownership) {
      if (visibility.maskIdentity && rule.requires === 'read-images' && !MASKED_ALLOWED.test(request.path)) {
        throw denied(403, 'identity is masked for your role: metadata, rendered images, frames and thumbnails only', principal);
      }
      access.study = ownership;
    }
  }
  if (rule.audit) auditBeforeServing(request, response, rule.audit, access, runtime);
}

// What a masked role (QC grading image quality) may open: nothing that carries the unmasked header.
const MASKED_ALLOWED = /\/(metadata|rendered|thumbnail|frames\/[0-9,]+|series|instances|priors)$/;

/**
 * Patient data leaves only once its audit event is committed: the first byte the handler writes
 * (its headers included) is held, the event — naming the study, or what the handler noted it
 * found — is recorded, and only then does the response go out. When the audit trail cannot be
 * written, the caller gets 503 saying so instead of the data. A response cut off after it began
 * (client gone, export failed) gets a second event saying it did not complete.
 */
function auditBeforeServing(request: Request, response: Response, audit: NonNullable<RouteRule['audit']>, access: RequestAccess, runtime: Runtime): void {
  // The path the rule matched: inside a router mounted at /dicom-web, request.path loses that prefix.
  const route = request.path;
  const event = (outcome: 0 | 4 | 8, extra: Record<string, unknown> = {}) => {
    const audited = (response.locals.audited ?? {}) as { studyUids?: string[]; patientId?: string; patientName?: string; detail?: Record<string, unknown> };
    const study = access.study;
    return {
      eventType: audit.eventType,
      action: audit.action,
      outcome,
      userName: access.principal.username,
      userRole: access.principal.role,
      institutionId: access.principal.institutionId ?? undefined,
      sourceAddress: request.ip,
      patientId: study ? auditPatientId(study.issuer, study.patientId) : audited.patientId,
      patientName: study?.patientName ?? audited.patientName,
      studyUids: study ? [study.studyInstanceUid] : (audited.studyUids ?? []),
      purpose: access.visibility.linkedPatientsPurpose ?? undefined,
      detail: {
        method: request.method,
        route,
        ...(Object.keys(request.query).length ? { query: new URLSearchParams(request.query as Record<string, string>).toString() } : {}),
        status: response.statusCode,
        ...(study && study.institutionId !== access.principal.institutionId ? { crossInstitution: true, studyInstitutionId: study.institutionId } : {}),
        ...grantsUsed(access.visibility, study ? [study.studyInstanceUid] : (audited.studyUids ?? [])),
        ...audited.detail,
        ...extra,
      },
    };
  };
  const outcomeOf = (status: number) => (status >= 500 ? 8 : status >= 400 ? 4 : 0);
  const original = { write: response.write, end: response.end, flushHeaders: response.flushHeaders };
  let state: 'waiting' | 'recording' | 'serving' | 'refused' = 'waiting';
  const held: (() => void)[] = [];
  const serve = () => {
    Object.assign(response, original);
    state = 'serving';
    for (const call of held.splice(0)) call();
  };
  const refuse = (error: unknown) => {
    state = 'refused';
    held.length = 0;
    runtime.log.error({ err: error, route: request.path }, 'audit trail unavailable: patient data withheld');
    if (response.headersSent) {
      response.destroy();
      return;
    }
    for (const name of response.getHeaderNames()) response.removeHeader(name);
    // The problem goes out through the real `end`; the handler's later writes keep being swallowed.
    const swallowing = response.end;
    response.end = original.end;
    sendProblem(request, response, new HttpProblem(503, 'problem.unavailable', 'the audit trail cannot be written just now, so no patient data is served; try again shortly'));
    response.end = swallowing;
  };
  // Every way out of the response goes through one of these three; until the event is committed they queue.
  const hold =
    <Args extends unknown[], Result>(method: (...args: Args) => Result, answer: () => Result) =>
    (...args: Args): Result => {
      if (state === 'refused') return answer();
      held.push(() => method.apply(response, args));
      if (state === 'waiting') {
        state = 'recording';
        runtime.audit.record(event(outcomeOf(response.statusCode))).then(serve, refuse);
      }
      return answer();
    };
  response.write = hold(original.write as (...args: unknown[]) => boolean, () => true) as Response['write'];
  response.end = hold(original.end as (...args: unknown[]) => Response, () => response) as Response['end'];
  response.flushHeaders = hold(original.flushHeaders as () => void, () => undefined);
  response.once('close', () => {
    if (state === 'serving' && !response.writableFinished) runtime.audit.recordInBackground(event(8, { completed: false }));
  });
}

/** The live grants covering a study this response served: its audit event names them. */
function grantsUsed(visibility: Visibility, studyUids: readonly string[]): { accessGrantIds?: string[] } {
  const grantIds = (visibility.grantedStudies ?? []).filter((grant) => studyUids.includes(grant.studyInstanceUid)).map((grant) => grant.grantId);
  return grantIds.length ? { accessGrantIds: grantIds } : {};
}

/** The study a URL is about: /dicom-web/studies/{uid}/…, /api/studies/{uid}/…, or WADO-URI's studyUID. */
function studyNamedBy(request: Request): string | undefined {
  const fromPath = /^\/(?:dicom-web|api)\/studies\/([^/]+)\/./.exec(request.path)?.[1] ?? /^\/dicom-web\/studies\/([^/]+)$/.exec(request.path)?.[1];
  if (fromPath !== undefined) return isUid(fromPath) ? fromPath : undefined;
  // WADO-URI serves an object only when all three UIDs are well-formed; otherwise it answers 400 itself.
  const { studyUID, seriesUID, objectUID } = request.query;
  if (request.path !== '/wado' || ![studyUID, seriesUID, objectUID].every((uid) => typeof uid === 'string' && isUid(uid))) return undefined;
  return studyUID as string;
}

function describe(permission: Permission): string {
  return { 'read-images': 'view patient images', store: 'store images', 'manage-workitems': 'create, claim or change workitems', 'request-reading': 'request remote reading', 'write-reports': 'write or sign reports', export: 'export studies', 'manage-institution': "manage an institution's users and peers", 'manage-system': 'administer the system', 'read-audit': 'read the audit trail', 'grade-quality': 'grade image quality', 'manage-persons': "link or unlink patients' records", 'record-recognition': 'record recognition decisions', 'view-statistics': "see the region's statistics" }[permission];
}

function decodeHeader(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

export function isSecure(request: Request): boolean {
  return request.secure;
}

export function setSessionCookie(response: Response, token: string, expiresAt: Date, secure: boolean): void {
  response.cookie(SESSION_COOKIE, token, { httpOnly: true, secure, sameSite: 'strict', path: '/', expires: expiresAt });
}
