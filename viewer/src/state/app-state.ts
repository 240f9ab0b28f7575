import { ApiError } from '../api/http.ts';
import type { DeadLetter, DestinationQueue, DicomwebNode, RoutingRule } from '../logic/routing.ts';
import type { AccreditationOnWire, AdministeredRegion, AdminUser, ApiToken, AuditEvent, AuditVerification, CreatedToken, DicomPeer, Institution, Region, RegionRecognitionOnWire } from '../api/admin-models.ts';
import type { ReportStatusSummary } from '../../../archive/reading/report.ts';
import type { CentreQcConfiguration } from '../../../archive/quality/quality-service.ts';
import type { SystemStatus } from '../../../archive/metrics/status.ts';
import type { SuggestionOnWire } from '../api/person-client.ts';
import type { PriorStudy, SeriesSummary, StudySummary } from '../dicomweb/models.ts';
import type { Locale, MessageKey } from '../i18n/messages.ts';
import type { PrimaryTool } from '../imaging/engine.ts';
import type { SeriesStack } from '../imaging/series-stack.ts';
import type { AdminTab, FieldError } from '../logic/admin.ts';
import type { KeyImage, SavedReport } from '../measurements/structured-report.ts';
import { initialLayout, type LayoutState, type SeriesRef } from '../logic/layout.ts';
import type { Route } from '../logic/route.ts';
import type { Remaining } from '../logic/study-query.ts';
import type { SignedInUser, SignInProviders } from '../logic/session.ts';

/** Why something could not be fetched: HTTP status (0: no answer) and what the archive said. Translated when shown. */
export interface Problem {
  status: number;
  detail: string;
  /** The problem's title, in the reader's language. */
  title?: string;
  retryAfterSeconds?: number;
}

/** Something fetched: on its way, there, or failed with a reason to show. */
export type Loadable<T> = { status: 'loading' } | { status: 'ready'; value: T } | { status: 'error'; problem: Problem };

export interface StudyListState {
  /** The search these results answer (so a result is never shown under another search's criteria). */
  resultsFor: string;
  results: Loadable<{ studies: StudySummary[]; remaining: Remaining }> | undefined;
  expandedStudy: string | undefined;
  seriesOf: Record<string, Loadable<SeriesSummary[]>>;
  /** The signed reports of the page's studies, by study (a study not named has none). */
  reports: Loadable<Record<string, ReportStatusSummary>> | undefined;
}

export interface OpenStudy {
  summary: StudySummary;
  series: SeriesSummary[];
}

/** A study's saved measurements and key images: its newest TID 1500 report and newest KOS. */
export interface StudyDocuments {
  measurementReport: SavedReport | undefined;
  keyImages: KeyImage[];
}

/** The last "save measurements": on its way, stored, nothing to store, or refused with the reason. */
export type SaveOutcome = { status: 'saving' } | { status: 'saved' } | { status: 'nothing' } | { status: 'error'; problem: Problem };

export interface ReadingState {
  /** The studies the link opened, then priors opened beside them. */
  studies: Record<string, Loadable<OpenStudy>>;
  /** Series stacks by seriesKey(), fetched when a viewport first shows them. */
  stacks: Record<string, Loadable<SeriesStack>>;
  layout: LayoutState;
  priors: Loadable<PriorStudy[]> | undefined;
  /** The signed reports of the priors, by study. */
  priorReports: Loadable<Record<string, ReportStatusSummary>> | undefined;
  tool: PrimaryTool;
  linked: boolean;
  cineFps: number;
  /** Saved measurements and key images by study, fetched when the study opens. */
  documents: Record<string, Loadable<StudyDocuments>>;
  /** The images marked key: those of the studies' saved KOS, then as the reader marks and unmarks them. */
  keyImages: KeyImage[];
  save: SaveOutcome | undefined;
}

/**
 * Whether someone is signed in. Signed out, the route stays what the address says, so signing in
 * (again, after a session expired) continues there.
 */
export type SessionState =
  | { status: 'checking' }
  | {
      status: 'signed-out';
      /** A session ended under the reader (expired, revoked): said on the sign-in screen. */
      expired: boolean;
      providers: SignInProviders | undefined;
      signingIn: boolean;
      problem: Problem | undefined;
    }
  | { status: 'signed-in'; user: SignedInUser };

/** The purpose of use stated for this browser session (检查检验结果互认), sent with every request for patient data. */
export interface PurposeState {
  text: string | undefined;
  dialogOpen: boolean;
}

/** What happened to the last change asked for on the administration page; `form`: the form it came from, if any, to say it there. */
export type AdminOutcome = { form?: string } & (
  | { kind: 'done'; message: MessageKey; values?: Record<string, string> }
  | { kind: 'invalid'; errors: FieldError[] }
  | { kind: 'failed'; problem: Problem }
);

export interface AuditSearchState {
  /** The query string searched for (logic/admin.ts auditSearch). */
  search: string;
  events: Loadable<AuditEvent[]> | undefined;
  /** The id to page back from, when the last page was full. */
  olderThan: string | undefined;
  loadingOlder: boolean;
  verification: Loadable<AuditVerification> | undefined;
}

export interface AdminState {
  tab: AdminTab | undefined;
  regions: Loadable<Region[]> | undefined;
  institutions: Loadable<Institution[]> | undefined;
  peers: Loadable<DicomPeer[]> | undefined;
  users: Loadable<AdminUser[]> | undefined;
  tokens: Loadable<ApiToken[]> | undefined;
  /** The person index's open suggestions (人员关联审核). */
  suggestions: Loadable<SuggestionOnWire[]> | undefined;
  /** The administrator's centre's QC configuration (质控配置). */
  qualityConfiguration: Loadable<CentreQcConfiguration> | undefined;
  /** The regions whose recognition (互认配置) the user configures, and the one chosen with its configuration and accreditations. */
  recognitionRegions: Loadable<AdministeredRegion[]> | undefined;
  recognition: { regionId: string; configuration: Loadable<RegionRecognitionOnWire>; accreditations: Loadable<AccreditationOnWire[]> } | undefined;
  /** Routing and sending on (转发): the queue of each destination, the dead letters, the rules and the DICOMweb nodes. */
  forwardQueues: Loadable<DestinationQueue[]> | undefined;
  deadLetters: Loadable<DeadLetter[]> | undefined;
  routingRules: Loadable<RoutingRule[]> | undefined;
  dicomwebNodes: Loadable<DicomwebNode[]> | undefined;
  /** Every gateway and worker process and their recent figures (系统状态). */
  systemStatus: Loadable<SystemStatus> | undefined;
  outcome: AdminOutcome | undefined;
  /** A change is on its way: the forms wait. */
  busy: boolean;
  /** The token just created, shown once; never stored anywhere else. */
  newToken: (CreatedToken & { username: string; label: string }) | undefined;
  audit: AuditSearchState;
}

export interface AppState {
  locale: Locale;
  route: Route;
  cpuRendering: boolean;
  helpOpen: boolean;
  session: SessionState;
  purpose: PurposeState;
  list: StudyListState;
  reading: ReadingState;
  admin: AdminState;
}

export function signedInUserOf(state: AppState): SignedInUser | undefined {
  return state.session.status === 'signed-in' ? state.session.user : undefined;
}

/** Who has a person page: those who read images with the patient's identity (QC staff grade masked studies, not persons). */
export function seesPersons(state: AppState): boolean {
  const user = signedInUserOf(state);
  return !!user?.permissions.includes('read-images') && !user.maskIdentity;
}

export function seriesKey(ref: SeriesRef): string {
  return `${ref.studyInstanceUid}/${ref.seriesInstanceUid}`;
}

export function emptyReading(): ReadingState {
  return { studies: {}, stacks: {}, layout: initialLayout(undefined), priors: undefined, priorReports: undefined, tool: 'WindowLevel', linked: true, cineFps: 15, documents: {}, keyImages: [], save: undefined };
}

export function emptyList(): StudyListState {
  return { resultsFor: '', results: undefined, expandedStudy: undefined, seriesOf: {}, reports: undefined };
}

export function emptyAdmin(): AdminState {
  return {
    tab: undefined,
    regions: undefined,
    institutions: undefined,
    peers: undefined,
    users: undefined,
    tokens: undefined,
    suggestions: undefined,
    qualityConfiguration: undefined,
    recognitionRegions: undefined,
    recognition: undefined,
    forwardQueues: undefined,
    deadLetters: undefined,
    routingRules: undefined,
    dicomwebNodes: undefined,
    systemStatus: undefined,
    outcome: undefined,
    busy: false,
    newToken: undefined,
    audit: { search: '', events: undefined, olderThan: undefined, loadingOlder: false, verification: undefined },
  };
}

/** A failed request as the state keeps it: the archive's status, title and detail, or that it did not answer. */
export function failed(error: unknown): { status: 'error'; problem: Problem } {
  if (error instanceof ApiError) {
    return { status: 'error', problem: { status: error.status, detail: error.detail, title: error.title, ...(error.retryAfterSeconds ? { retryAfterSeconds: error.retryAfterSeconds } : {}) } };
  }
  return { status: 'error', problem: { status: 0, detail: error instanceof Error ? error.message : String(error) } };
}
