import { randomUUID } from 'node:crypto';
import type { Principal, StudyGrant, Visibility } from '../access/policy.ts';
import type { NewVersion, Reader, ReportsRepository } from '../db/reports-repository.ts';
import type { MessageKey } from '../i18n/messages.ts';
import type { Logger } from '../log.ts';
import {
  draftSaveSchema,
  EMPTY_REPORT_CONTENT,
  newTemplateSchema,
  readerAttributesSchema,
  reportSettingsSchema,
  signRequestSchema,
  type Report,
  type ReportSearchHit,
  type ReportSettings,
  type ReportSignature,
  type ReportStatusSummary,
  type ReportTemplate,
  type ReportVersion,
  type SignRequest,
} from './report.ts';
import { reportPdfUids } from './report-pdf.ts';
import { NOT_REPORTABLE_HERE, REPORT_STATUS_BATCH } from './report-wire.ts';
import type { StudyHeader } from './report-sr.ts';
import { SHIPPED_TEMPLATES } from './report-templates.ts';
import type { TemplateProblem } from './tid2000.ts';

/** Why a report request was refused: the HTTP status and what to do about it. */
export class ReportRefusal extends Error {
  constructor(
    readonly httpStatus: 400 | 403 | 404 | 409,
    readonly reason: string,
    readonly extra: Record<string, unknown> = {},
    /** The problem's title when the status alone does not say it (from the zh/en catalogue). */
    readonly titleKey?: MessageKey,
  ) {
    super(reason);
    this.name = 'ReportRefusal';
  }
}

/**
 * How far back the sweep looks for versions whose SR or PDF was never received. The old start-up
 * sweep had no limit; a week would leave a version lost during a longer outage (a queue down over a
 * holiday) without its documents for good. The query reads only the window's versions through an
 * index, so a month costs little and covers any outage someone would not have noticed otherwise.
 */
const DOCUMENTS_RECOVERY_DAYS = 30;

/** What happens once a signature is committed: the SR job, the workitem's stage, critical-finding notices. */
export interface ReportSignedEvent {
  report: Report;
  version: ReportVersion;
  signer: Principal;
}
export type ReportSignedListener = (event: ReportSignedEvent) => Promise<void>;

/**
 * Reports of studies (初诊 + 审核): the draft a reader types, saved as typed with optimistic
 * concurrency; signatures — preliminary by a reader, final by a verifier (a per-user attribute),
 * or final at once where the centre signs in one level; amendments with a reason. A signed version
 * never changes. A report is seen by whoever sees its study.
 */
/** What a ReportService works with, named: runtime.ts gives the real ones, tests what they need. */
export interface ReportServiceDeps {
  reports: ReportsRepository;
  log: Logger;
  /** Run in order after each signature commits; a failing listener is logged, the signature stands. */
  signedListeners: ReportSignedListener[];
  /** Run when a report's first draft is saved (the reading has begun); failures are logged. */
  draftBegunListeners?: ((report: Report) => Promise<void>)[];
  /**
   * The studies a workitem names (Referenced Request and Input Information), null when the
   * caller cannot see it: a report moves only a task of its own study the caller may see.
   */
  workitemStudies?: (workitemUid: string, visibility: Visibility) => Promise<string[] | null>;
  /**
   * Whether a critical finding's category is on the active 危急值 list. Checked before signing:
   * the notice is raised after the signature commits, and one the list no longer knows could not be.
   */
  criticalCategoryActive?: (category: string) => Promise<boolean>;
  /** The studies a user reads through live grants (consultations, share links), never ones to report on. */
  grantedStudies?: (userId: string) => Promise<readonly StudyGrant[]>;
}

export class ReportService {
  private readonly reports: ReportsRepository;
  private readonly log: Logger;
  private readonly signedListeners: ReportSignedListener[];
  private readonly draftBegunListeners: ((report: Report) => Promise<void>)[];
  private readonly workitemStudies: NonNullable<ReportServiceDeps['workitemStudies']>;
  private readonly criticalCategoryActive: NonNullable<ReportServiceDeps['criticalCategoryActive']>;
  private readonly grantedStudies: NonNullable<ReportServiceDeps['grantedStudies']>;

  constructor(deps: ReportServiceDeps) {
    this.reports = deps.reports;
    this.log = deps.log;
    this.signedListeners = deps.signedListeners;
    this.draftBegunListeners = deps.draftBegunListeners ?? [];
    this.workitemStudies = deps.workitemStudies ?? (async () => null);
    this.criticalCategoryActive = deps.criticalCategoryActive ?? (async () => true);
    this.grantedStudies = deps.grantedStudies ?? (async () => []);
  }

  /** The report of a visible study, made empty (a draft) when the study has none yet. */
  async open(principal: Principal, visibility: Visibility, studyInstanceUid: string, workitemUid: string | null): Promise<{ report: Report; study: StudyHeader }> {
    const study = await this.reports.studyHeader(studyInstanceUid, visibility);
    if (!study && (await this.grantedStudies(principal.userId)).some((grant) => grant.studyInstanceUid === studyInstanceUid)) {
      // The grant already told this caller the study exists, so saying why hides nothing; the viewer
      // shows no report panel for this reason and shows every other refusal.
      throw new ReportRefusal(403, `study ${studyInstanceUid} is open to you through a consultation or share link, for reading only: its hospital or reading centre reports on it`, { reason: NOT_REPORTABLE_HERE }, 'problem.notReportableHere');
    }
    if (!study) throw notStoredHere(studyInstanceUid);
    if (workitemUid) {
      const studies = await this.workitemStudies(workitemUid, visibility);
      // The same answer for "absent" and "not yours", as for workitems.
      if (!studies) throw new ReportRefusal(404, `no workitem ${workitemUid} is here`);
      if (!studies.includes(studyInstanceUid)) throw new ReportRefusal(400, `workitem ${workitemUid} is not a task of study ${studyInstanceUid}`);
    }
    const report = await this.reports.open(studyInstanceUid, study.institutionId, workitemUid, EMPTY_REPORT_CONTENT);
    this.log.debug({ reportId: report.id, userId: principal.userId }, 'report opened');
    return { report, study };
  }

  /** The report of a visible study; 404 when there is none (or the study is not visible). */
  async get(visibility: Visibility, studyInstanceUid: string): Promise<{ report: Report; study: StudyHeader }> {
    const study = await this.visibleStudy(studyInstanceUid, visibility);
    const report = await this.reports.findByStudy(studyInstanceUid);
    if (!report) throw new ReportRefusal(404, `study ${studyInstanceUid} has no report yet`);
    return { report, study };
  }

  /** Saves the draft as typed; refused (409, with the stored draft) when someone saved since the revision it was made from. */
  async saveDraft(principal: Principal, visibility: Visibility, studyInstanceUid: string, body: unknown): Promise<{ revision: number; updatedAt: string; study: StudyHeader }> {
    const save = parse(draftSaveSchema, body);
    const { report, study } = await this.get(visibility, studyInstanceUid);
    const saved = await this.reports.saveDraft(report.id, save.content, save.revision, principal.userId);
    if (!saved) {
      const current = (await this.reports.find(report.id))!;
      throw new ReportRefusal(409, `the draft was saved by someone else since revision ${save.revision}: reload it (revision ${current.draftRevision})`, { revision: current.draftRevision, draft: current.draft });
    }
    if (save.revision === 0) {
      for (const listener of this.draftBegunListeners) await listener(report).catch((error: unknown) => this.log.error({ err: error, reportId: report.id }, 'a step after the first draft failed'));
    }
    return { ...saved, study };
  }

  /** Signs the draft as it stands at `revision`: 初诊, 审核, or an amendment with its reason. */
  async sign(principal: Principal, visibility: Visibility, studyInstanceUid: string, body: unknown): Promise<{ report: Report; version: ReportVersion; study: StudyHeader }> {
    const request = parse(signRequestSchema, body);
    const { report, study } = await this.get(visibility, studyInstanceUid);
    const finding = report.draft.criticalFinding;
    if (finding && !(await this.criticalCategoryActive(finding.category))) {
      throw new ReportRefusal(400, `the critical finding's category "${finding.category}" is not on the critical-findings list: choose one from GET /api/critical-findings/categories before signing`);
    }
    const signer = await this.reports.reader(principal.userId);
    if (!signer?.institutionId) throw new ReportRefusal(403, 'a report is signed by a user of an institution');
    const levels = await this.reports.signingLevels(signer.institutionId);
    const refusal = await this.reports.sign<ReportRefusal | null>(report.id, (current) => {
      const refused = refusalOf(current, request, signer, levels);
      if (refused) return { result: refused };
      return { add: newVersion(current, request, signature(request.role === 'preliminary' ? 'preliminary' : 'final', signer)), result: null };
    });
    if (refusal) throw refusal;
    const signed = (await this.reports.find(report.id))!;
    const version = signed.versions.at(-1)!;
    for (const listener of this.signedListeners) {
      await listener({ report: signed, version, signer: principal }).catch((error: unknown) => this.log.error({ err: error, reportId: report.id, version: version.version }, 'a step after signing failed'));
    }
    return { report: signed, version, study };
  }

  /** Every version of a report, oldest first (for the PDF, FHIR and notification slices). */
  async versionsOf(reportId: string): Promise<ReportVersion[]> {
    return (await this.reports.find(reportId))?.versions ?? [];
  }

  /** A study's report as the system sees it (no caller's scope): for jobs and other services. */
  async currentReportOfStudy(studyInstanceUid: string): Promise<Report | null> {
    return this.reports.findByStudy(studyInstanceUid);
  }

  async report(reportId: string): Promise<Report | null> {
    return this.reports.find(reportId);
  }

  /** The study header an SR or a PDF repeats, as the system sees it. */
  async studyHeader(studyInstanceUid: string): Promise<StudyHeader | null> {
    return this.reports.studyHeader(studyInstanceUid, null);
  }

  /**
   * Versions signed within the last DOCUMENTS_RECOVERY_DAYS, more than `olderThanSeconds` ago, whose
   * SR or PDF was never received (the job lost between commit and enqueue, or failed for good): for
   * the reconciler's sweep.
   */
  versionsAwaitingDocuments(olderThanSeconds: number): Promise<{ reportId: string; version: number; sr: boolean; pdf: boolean }[]> {
    return this.reports.versionsMissingDocuments(olderThanSeconds, DOCUMENTS_RECOVERY_DAYS);
  }

  /** Flags a received SR that claims TID 2000 but departs from it (never refused: it is stored as sent). */
  async flagTemplateProblems(sopInstanceUid: string, studyInstanceUid: string, problems: TemplateProblem[]): Promise<void> {
    this.log.warn({ sopInstanceUid, studyInstanceUid, problems }, 'a received SR departs from TID 2000');
    await this.reports.recordTemplateProblems(sopInstanceUid, studyInstanceUid, 'TID 2000', problems);
  }

  /** The received SRs of a study flagged as departing from their template. */
  templateProblemsOf(studyInstanceUid: string) {
    return this.reports.templateProblemsOf(studyInstanceUid);
  }

  /** Shipped templates and the caller's centre's own, for a modality and body part (either may be absent: all). */
  async templates(principal: Principal, filter: { modality?: string; bodyPart?: string }): Promise<ReportTemplate[]> {
    const own = principal.institutionId ? await this.reports.templatesOf(principal.institutionId) : [];
    const fits = (template: ReportTemplate) =>
      (!filter.modality || template.modality === null || template.modality === filter.modality.toUpperCase()) && (!filter.bodyPart || template.bodyPart === null || template.bodyPart === filter.bodyPart.toUpperCase());
    return [...own, ...SHIPPED_TEMPLATES].filter(fits);
  }

  async addTemplate(principal: Principal, body: unknown): Promise<ReportTemplate> {
    if (!principal.institutionId) throw new ReportRefusal(403, "a template belongs to a centre: add it as a user of one");
    return this.reports.insertTemplate(principal.institutionId, parse(newTemplateSchema, body), principal.userId);
  }

  /** Signed reports holding every word of `query` (Chinese matched as typed, no word splitting needed). */
  async search(visibility: Visibility, query: string): Promise<ReportSearchHit[]> {
    const terms = query.split(/\s+/).map((term) => term.trim()).filter(Boolean);
    if (terms.length === 0 || terms.some((term) => term.length > 100)) throw new ReportRefusal(400, 'q must hold one or more words of at most 100 characters');
    return this.reports.search(terms, visibility, 100);
  }

  /** Where the reports of these studies stand (未报告 / 初诊 / 已审核 / 已修订, 危急值), for those the caller may see. */
  async statusesOf(visibility: Visibility, studyInstanceUids: string[]): Promise<ReportStatusSummary[]> {
    if (studyInstanceUids.length > REPORT_STATUS_BATCH) throw new ReportRefusal(400, `name at most ${REPORT_STATUS_BATCH} studies at a time`);
    return studyInstanceUids.length ? this.reports.statusesOf(studyInstanceUids, visibility) : [];
  }

  /** 职称, 执业证号 and whether they may verify: set by a system administrator, or an institution's for its own users. */
  async setReaderAttributes(actor: Principal, userId: string, body: unknown): Promise<void> {
    const attributes = parse(readerAttributesSchema, body);
    const scope = actor.role === 'system_admin' ? null : actor.institutionId;
    if (actor.role !== 'system_admin' && !scope) throw new ReportRefusal(403, 'only administrators of an institution set its readers');
    if (!(await this.reports.setReaderAttributes(userId, scope, attributes))) throw new ReportRefusal(404, `no user ${userId} is in your institution`);
  }

  async settings(principal: Principal): Promise<ReportSettings> {
    return { signingLevels: principal.institutionId ? await this.reports.signingLevels(principal.institutionId) : 2 };
  }

  /** One or two signing levels for the administrator's own centre. */
  async setSettings(actor: Principal, body: unknown): Promise<ReportSettings> {
    const settings = parse(reportSettingsSchema, body);
    if (!actor.institutionId) throw new ReportRefusal(403, 'report settings are a centre’s: set them as a user of one');
    await this.reports.setSigningLevels(actor.institutionId, settings.signingLevels);
    return settings;
  }

  private async visibleStudy(studyInstanceUid: string, visibility: Visibility): Promise<StudyHeader> {
    const study = await this.reports.studyHeader(studyInstanceUid, visibility);
    if (!study) throw notStoredHere(studyInstanceUid);
    return study;
  }
}

/** The same answer for "not stored" and "not yours", as for images. */
function notStoredHere(studyInstanceUid: string): ReportRefusal {
  return new ReportRefusal(404, `no study ${studyInstanceUid} is stored here`);
}

/** Whether this signature may be made now; the state machine of a report, in one place. */
export function refusalOf(current: Report, request: SignRequest, signer: Reader, levels: 1 | 2): ReportRefusal | null {
  if (request.revision !== current.draftRevision) {
    return new ReportRefusal(409, `the draft changed since revision ${request.revision} (now ${current.draftRevision}): sign what you see after reloading`, { revision: current.draftRevision });
  }
  if (!current.draft.impression.trim()) return new ReportRefusal(400, 'a report is signed with an impression (诊断意见)');
  const preliminary = current.versions.at(-1)?.signatures.find((signature) => signature.role === 'preliminary');
  switch (request.role) {
    case 'preliminary':
      if (current.status !== 'draft') return new ReportRefusal(409, `the report is ${current.status} already: it changes only by ${current.status === 'preliminary' ? 'verification' : 'amendment'}`);
      if (levels === 1) return new ReportRefusal(409, 'your centre signs reports in one level: sign the final report');
      return null;
    case 'final':
      if (!signer.mayVerifyReports) return new ReportRefusal(403, 'you may not verify reports (审核): an administrator grants it');
      if (current.status === 'final' || current.status === 'amended') return new ReportRefusal(409, 'the report is final: it changes only by amendment, with a reason');
      if (levels === 2 && current.status !== 'preliminary') return new ReportRefusal(409, 'your centre signs in two levels: a preliminary report (初诊) comes first');
      if (levels === 2 && preliminary?.userId === signer.userId) return new ReportRefusal(403, 'the final report is verified by someone other than its preliminary reader');
      return null;
    case 'amendment':
      if (!signer.mayVerifyReports) return new ReportRefusal(403, 'amendments are signed by a verifier (审核): an administrator grants it');
      if (current.status !== 'final' && current.status !== 'amended') return new ReportRefusal(409, 'only a final report is amended; until then, edit the draft and sign');
      return null;
  }
}

function newVersion(current: Report, request: SignRequest, signed: ReportSignature): NewVersion {
  const previous = current.versions.at(-1);
  // A final keeps the 初诊 signature it verifies; an amendment is the amender's alone.
  const carried = request.role === 'final' ? (previous?.signatures.filter((signature) => signature.role === 'preliminary') ?? []) : [];
  const sr = { srSopInstanceUid: newUid(), srSeriesInstanceUid: newUid() };
  return {
    status: request.role === 'amendment' ? 'amended' : request.role,
    content: current.draft,
    amendmentReason: request.role === 'amendment' ? request.reason : null,
    signatures: [...carried, signed],
    ...sr,
    // Kept with the version so that the sweep for missing documents asks the receipts in SQL alone.
    pdfSopInstanceUid: reportPdfUids(sr).sopInstanceUid,
  };
}

function signature(role: ReportSignature['role'], signer: Reader): ReportSignature {
  return {
    role,
    userId: signer.userId,
    name: personNameText(signer.displayName),
    title: signer.professionalTitle,
    licence: signer.licenceNumber,
    institution: signer.institutionName ?? '',
    signedAt: new Date().toISOString(),
  };
}

/**
 * A display name as DICOM PN text, keeping both writings: '李明 Li Ming' becomes 'Li^Ming=李^明'
 * (family name first in both; a Chinese name's first character taken as the family name, the usual
 * case; compound family names would need the name stored in parts). A name already in PN form is kept.
 */
export function personNameText(displayName: string): string {
  const name = displayName.trim();
  if (/[\^=]/.test(name)) return name;
  const ideographic = (name.match(/[\u3400-\u9fff\uf900-\ufaff]+/g) ?? []).join('');
  const alphabetic = name.replace(/[\u3400-\u9fff\uf900-\ufaff]+/g, ' ').trim().split(/\s+/).filter(Boolean);
  const alphabeticText = alphabetic.length > 1 ? `${alphabetic[0]}^${alphabetic.slice(1).join(' ')}` : (alphabetic[0] ?? '');
  const ideographicText = ideographic.length > 1 ? `${ideographic[0]}^${ideographic.slice(1)}` : ideographic;
  return ideographicText ? `${alphabeticText}=${ideographicText}` : alphabeticText;
}

function newUid(): string {
  return `2.25.${BigInt(`0x${randomUUID().replace(/-/g, '')}`).toString(10)}`;
}

function parse<Output>(schema: { safeParse(value: unknown): { success: true; data: Output } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } } }, body: unknown): Output {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new ReportRefusal(400, `${issue.path.map(String).join('.') || 'the body'}: ${issue.message}`);
}
