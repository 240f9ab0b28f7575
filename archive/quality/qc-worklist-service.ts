import crypto from 'node:crypto';
import { adminChangeEvent, type Actor } from '../access/administration.ts';
import type { Principal, Visibility } from '../access/policy.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { bilingual } from '../i18n/configured-label.ts';
import type { QcWorklistRepository, SignedReportText, StoredReportQcGrade, WorklistRow } from '../db/qc-worklist-repository.ts';
import { DEFAULT_QC_WORKLIST_SETTINGS, qcFlagRequestSchema, qcWorklistSettingsSchema, REPORT_QC_ERRORS, REPORT_QC_GRADES, reportQcGradeRequestSchema, worklistQuerySchema, type QcWorklistSettings, type WorklistEntry, type WorklistReason } from './qc-worklist.ts';
import { regionToday } from '../recognition/region-day.ts';
import { runTechnicalChecks, sampleIndexes, worstOutcome, type CheckedSeries, type CheckResult, type ImageSample } from './technical-checks.ts';

/** A work-list request or report grading refused, with its HTTP status and a reason a person can act on. */
export class QcWorklistRefusal extends Error {
  constructor(
    readonly httpStatus: 400 | 403 | 404 | 409,
    readonly reason: string,
  ) {
    super(reason);
  }
}

export interface CentreWorklistSettings {
  institutionId: string;
  settings: QcWorklistSettings;
}

/** A 256-bin histogram of one image's displayed grey levels, or null when it cannot be drawn. */
/** What report QC shows of a study: its grades, the choices, and the signed versions' text. */
export interface ReportQuality {
  current: StoredReportQcGrade | null;
  history: StoredReportQcGrade[];
  choices: typeof REPORT_QC_CHOICES;
  versions: SignedReportText[];
}

export type HistogramOf = (objectKey: string) => Promise<number[] | null>;

/** What the work list needs of image QC grading (QualityService): each study's current grade. */
export interface StudyGrades {
  studyGrades(studyInstanceUids: readonly string[], institutionId: string | null): Promise<Map<string, NonNullable<WorklistEntry['grade']>>>;
}

/** 符合 / 基本符合 / 不符合 and the error categories, labelled in both languages from the message catalogue. */
const REPORT_QC_CHOICES = {
  grades: REPORT_QC_GRADES.map((code) => ({ code, label: bilingual({ key: `reportQc.grade.${code}` }) })),
  errors: REPORT_QC_ERRORS.map((code) => ({ code, label: bilingual({ key: `reportQc.error.${code}` }) })),
};

const newSamplingKey = () => crypto.randomBytes(32).toString('hex');
const reasonsOf = (issues: { path: PropertyKey[]; message: string }[]) => issues.map((issue) => `${issue.path.map(String).join('.') || 'body'}: ${issue.message}`).join('; ');

/**
 * QC work lists (质控工作列表): the automatic technical checks of a study at ingest, a centre's
 * sampling rules, clinicians' flags, the month's list of what QC is to look at and why, and report
 * QC grades (报告质控). SQL is the repository's; who may call what is the access table's.
 */
export class QcWorklistService {
  constructor(private readonly deps: { repository: QcWorklistRepository; grades: StudyGrades; audit: AuditLog; histogramOf: HistogramOf; today?: () => string }) {}

  /**
   * Runs every technical check on the study's current instances (a few images per series drawn for
   * the histogram) and stores the results; returns them, or null for a study not indexed.
   */
  async checkStudy(studyInstanceUid: string): Promise<CheckResult[] | null> {
    const study = await this.deps.repository.studyForChecks(studyInstanceUid);
    if (!study) return null;
    const stored = await this.deps.repository.settingsForStudyInstitution(study.institutionId);
    const { checks: thresholds } = stored ? qcWorklistSettingsSchema.parse(stored) : DEFAULT_QC_WORKLIST_SETTINGS;
    const bySeries = new Map<string, typeof study.instances>();
    for (const instance of study.instances) bySeries.set(instance.seriesInstanceUid, [...(bySeries.get(instance.seriesInstanceUid) ?? []), instance]);
    const series: CheckedSeries[] = [];
    for (const [seriesInstanceUid, instances] of bySeries) {
      const images = instances.filter((instance) => instance.metadata['00280010']);
      const samples: ImageSample[] = [];
      for (const index of sampleIndexes(images.length, thresholds.samplesPerSeries)) {
        const image = images[index]!;
        const histogram = await this.deps.histogramOf(image.objectKey);
        if (histogram) samples.push({ sopInstanceUid: image.sopInstanceUid, histogram });
      }
      series.push({ seriesInstanceUid, instances: instances.map((instance) => instance.metadata), samples });
    }
    const results = runTechnicalChecks({ series }, this.today(), thresholds);
    await this.deps.repository.saveChecks({ studyPk: study.studyPk, studyInstanceUid }, worstOutcome(results), results, study.instances.length);
    return results;
  }

  /** The month's work list of the caller's scope, each study with why it is on it, its checks and its image QC grade. */
  async worklist(principal: Principal, visibility: Visibility, query: unknown): Promise<{ settings: QcWorklistSettings['sampling']; entries: WorklistEntry[] }> {
    const parsed = worklistQuerySchema.safeParse(query);
    if (!parsed.success) throw new QcWorklistRefusal(400, reasonsOf(parsed.error.issues));
    if (!principal.institutionId) throw new QcWorklistRefusal(403, 'a QC work list is a centre\'s: sign in as QC staff of a centre');
    const stored = await this.deps.repository.settingsOf(principal.institutionId, newSamplingKey());
    const { sampling } = qcWorklistSettingsSchema.parse(stored.settings);
    const rows = await this.deps.repository.worklist(parsed.data, visibility.institutionIds, { key: stored.samplingKey, ...sampling });
    const grades = await this.deps.grades.studyGrades(
      rows.filter((row) => row.graded).map((row) => row.studyInstanceUid),
      principal.institutionId,
    );
    const entries = rows.map(({ sampled, graded, ...row }): WorklistEntry => {
      const reasons: WorklistReason[] = [];
      if (sampled) reasons.push('sampled');
      if (row.flags.length) reasons.push('flagged');
      if (row.checks?.outcome === 'fail') reasons.push('auto-check');
      return { ...row, reasons, grade: (graded && grades.get(row.studyInstanceUid)) || null };
    });
    return { settings: sampling, entries };
  }

  /** The administrator's own centre's settings (the defaults until it saves its own). */
  async settings(actor: Actor): Promise<CentreWorklistSettings> {
    const institutionId = centreOf(actor);
    const stored = await this.deps.repository.settingsOf(institutionId, newSamplingKey());
    return { institutionId, settings: qcWorklistSettingsSchema.parse(stored.settings) };
  }

  /** Validates and stores the centre's settings (the sampling key stays); audited as an administrative change. */
  async setSettings(actor: Actor & { userId: string }, input: unknown): Promise<CentreWorklistSettings> {
    const institutionId = centreOf(actor);
    const parsed = qcWorklistSettingsSchema.safeParse(input);
    if (!parsed.success) throw new QcWorklistRefusal(400, reasonsOf(parsed.error.issues));
    await this.deps.repository.saveSettings(institutionId, parsed.data, newSamplingKey(), actor.userId);
    await this.deps.audit.record(adminChangeEvent(actor, 'U', { change: 'qc-worklist-settings', institutionId, defaultRatePercent: parsed.data.sampling.defaultRatePercent, rules: parsed.data.sampling.rules.length }));
    return { institutionId, settings: parsed.data };
  }

  /** A clinician asks QC to look at a study they see (the access policy has checked it), with a reason. */
  async flag(studyInstanceUid: string, request: unknown, principal: Principal): Promise<{ id: string; flaggedAt: Date }> {
    const parsed = qcFlagRequestSchema.safeParse(request);
    if (!parsed.success) throw new QcWorklistRefusal(400, reasonsOf(parsed.error.issues));
    const flag = await this.deps.repository.addFlag(studyInstanceUid, parsed.data.reason, { userId: principal.userId, name: principal.displayName, institutionId: principal.institutionId });
    if (!flag) throw new QcWorklistRefusal(404, `no study ${studyInstanceUid} is stored here`);
    return flag;
  }

  /** Grades a signed version of the study's report (by default the newest); a regrade supersedes the report's current grade. */
  async gradeReport(studyInstanceUid: string, request: unknown, grader: Principal): Promise<StoredReportQcGrade> {
    const parsed = reportQcGradeRequestSchema.safeParse(request);
    if (!parsed.success) throw new QcWorklistRefusal(400, reasonsOf(parsed.error.issues));
    const report = await this.deps.repository.reportOfStudy(studyInstanceUid);
    if (!report) throw new QcWorklistRefusal(409, `the study ${studyInstanceUid} has no signed report to grade`);
    const version = parsed.data.version ?? report.versions[report.versions.length - 1]!;
    if (!report.versions.includes(version)) throw new QcWorklistRefusal(400, `the report has no signed version ${version} (signed: ${report.versions.join(', ')})`);
    return this.deps.repository.recordReportGrade({
      studyPk: report.studyPk,
      studyInstanceUid,
      reportId: report.reportId,
      reportVersion: version,
      gradeCode: parsed.data.grade,
      errors: [...new Set(parsed.data.errors)],
      comment: parsed.data.comment,
      gradedByUserId: grader.userId,
      gradedByName: grader.displayName,
      graderInstitutionId: grader.institutionId,
    });
  }

  /**
   * The study's report QC grades (the current one and every one ever given, oldest first), the grades
   * and error categories to choose from, and the signed versions' text to grade: QC staff see patients
   * masked and cannot open the report itself, whose header names the patient.
   */
  async reportGrades(studyInstanceUid: string): Promise<ReportQuality> {
    const [history, versions] = await Promise.all([this.deps.repository.reportGradesOfStudy(studyInstanceUid), this.deps.repository.signedReportTexts(studyInstanceUid)]);
    return { current: history.find((grade) => grade.supersededBy === null) ?? null, history, choices: REPORT_QC_CHOICES, versions };
  }

  /** The region's calendar day (Asia/Shanghai), as study dates are: the UTC date is yesterday's until 08:00 there, and a study done at dawn would read as dated in the future. */
  private today(): string {
    return this.deps.today?.() ?? regionToday();
  }
}

function centreOf(actor: Actor): string {
  if (!actor.institutionId) throw new QcWorklistRefusal(403, 'work-list settings belong to a centre: sign in as the administrator of the centre whose settings they are');
  return actor.institutionId;
}
