import dcmjs from 'dcmjs';
import { z } from 'zod';
import { adminChangeEvent, type Actor } from '../access/administration.ts';
import type { Principal } from '../access/policy.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { QualityRepository, StoredQcGrade } from '../db/quality-repository.ts';
import { applyVetoes, DEFAULT_QC_CONFIGURATION, defectsForModality, gradeRank, qcConfigurationSchema, scaleForModality, type QcConfiguration, type QcDefect, type QcGrade, type QcScale } from './qc-scales.ts';

/** What a grader sends for one series. */
export const gradeRequestSchema = z.strictObject({
  grade: z.string().min(1).max(32),
  defects: z.array(z.string().min(1).max(32)).max(50).default([]),
  comment: z.string().max(2000).default(''),
});
export type GradeRequest = z.input<typeof gradeRequestSchema>;

/** A grading refused, with the HTTP status it answers and a reason a grader can act on. */
export class QualityRefusal extends Error {
  constructor(
    readonly httpStatus: 400 | 403 | 404,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** The scale and defects a grading screen offers for one modality. */
export interface QcCatalogue {
  modality: string;
  scale: QcScale;
  defects: QcDefect[];
}

/** A study's grades: the current one of each series, the study's (its worst series'), and the whole history. */
export interface StudyQuality {
  studyInstanceUid: string;
  studyGrade: { scaleId: string; grade: QcGrade } | null;
  current: StoredQcGrade[];
  history: StoredQcGrade[];
}

/** A centre's QC configuration as its administrator edits it: its own (`custom`), or the shipped defaults it grades on until it saves one. */
export interface CentreQcConfiguration {
  institutionId: string;
  custom: boolean;
  configuration: QcConfiguration;
}

const { DicomMetaDictionary } = (dcmjs as unknown as { data: { DicomMetaDictionary: { uid(): string } } }).data;

/**
 * Image QC grading (质控评级): QC staff grade a study series by series on the scale of the series'
 * modality, with coded defects whose vetoes force the lowest grade; the study takes its worst series'
 * grade. A regrade supersedes the series' grade and keeps it. A reject (废片 / 不合格) fixes the UIDs
 * of its "Rejected for Quality Reasons" KOS here and hands the grade to `onReject`, which enqueues
 * the job that writes it (workers/jobs/write-rejection-kos.ts).
 */
export class QualityService {
  constructor(private readonly deps: { repository: QualityRepository; audit: AuditLog; onReject: (grade: StoredQcGrade) => Promise<void> }) {}

  /** The grader's centre's configuration, or the shipped defaults when it has none. */
  async configurationFor(institutionId: string | null): Promise<QcConfiguration> {
    const stored = institutionId ? await this.deps.repository.configurationOf(institutionId) : null;
    return stored ? qcConfigurationSchema.parse(stored) : DEFAULT_QC_CONFIGURATION;
  }

  /**
   * The configuration of the administrator's own centre: a QC centre's scales and defects are its
   * institution's (its graders grade on them), so the one who administers that institution keeps
   * them. A system administrator belongs to no centre and is refused (403), as is anyone without one.
   */
  async centreConfiguration(actor: Actor): Promise<CentreQcConfiguration> {
    const institutionId = centreOf(actor);
    const stored = await this.deps.repository.configurationOf(institutionId);
    return { institutionId, custom: stored !== null, configuration: stored ? qcConfigurationSchema.parse(stored) : DEFAULT_QC_CONFIGURATION };
  }

  /** Validates (zod's reasons as a 400) and stores the centre's configuration; audited as an administrative change. */
  async setCentreConfiguration(actor: Actor, input: unknown): Promise<CentreQcConfiguration> {
    const institutionId = centreOf(actor);
    const parsed = qcConfigurationSchema.safeParse(input);
    if (!parsed.success) throw new QualityRefusal(400, parsed.error.issues.map((issue) => `${issue.path.join('.') || 'configuration'}: ${issue.message}`).join('; '));
    await this.deps.repository.saveConfiguration(institutionId, parsed.data);
    await this.deps.audit.record(adminChangeEvent(actor, 'U', { change: 'qc-configuration', institutionId, scales: parsed.data.scales.map((scale) => scale.id), defects: parsed.data.defects.length }));
    return { institutionId, custom: true, configuration: parsed.data };
  }

  /** The configurations of several centres at once (the HR mark of a page of studies graded by several). */
  async configurationsFor(institutionIds: readonly string[]): Promise<Map<string, QcConfiguration>> {
    const stored = await this.deps.repository.configurationsOf(institutionIds);
    return new Map(institutionIds.map((institutionId) => {
      const own = stored.get(institutionId);
      return [institutionId, own ? qcConfigurationSchema.parse(own) : DEFAULT_QC_CONFIGURATION];
    }));
  }

  async catalogue(modality: string, institutionId: string | null): Promise<QcCatalogue> {
    const configuration = await this.configurationFor(institutionId);
    const scale = scaleForModality(configuration, modality);
    if (!scale) throw new QualityRefusal(404, `no QC scale grades the modality ${modality}`);
    return { modality: modality.trim().toUpperCase(), scale, defects: defectsForModality(configuration, modality) };
  }

  /** Grades one series of a study the caller sees (the access policy has checked the study). */
  async grade(studyInstanceUid: string, seriesInstanceUid: string, request: unknown, grader: Principal): Promise<StoredQcGrade> {
    const parsed = gradeRequestSchema.safeParse(request);
    if (!parsed.success) throw new QualityRefusal(400, parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; '));
    const series = await this.deps.repository.series(studyInstanceUid, seriesInstanceUid);
    if (!series) throw new QualityRefusal(404, `the study ${studyInstanceUid} has no series ${seriesInstanceUid}`);
    const configuration = await this.configurationFor(grader.institutionId);
    const scale = scaleForModality(configuration, series.modality ?? '');
    if (!scale) throw new QualityRefusal(400, `no QC scale grades the modality ${series.modality ?? '(none)'} of this series`);
    const { grade: given, defects, comment } = parsed.data;
    if (!scale.grades.some((candidate) => candidate.code === given)) {
      throw new QualityRefusal(400, `grade '${given}' is not on the ${scale.id} scale (${scale.grades.map((candidate) => candidate.code).join(', ')})`);
    }
    const applicable = new Set(defectsForModality(configuration, series.modality ?? '').map((candidate) => candidate.code));
    const unknown = defects.filter((code) => !applicable.has(code));
    if (unknown.length) throw new QualityRefusal(400, `defects ${unknown.join(', ')} do not apply to ${series.modality} on this centre's catalogue`);
    const uniqueDefects = [...new Set(defects)];
    const grade = applyVetoes(configuration, scale, given, uniqueDefects);
    const stored = await this.deps.repository.recordGrade({
      series,
      scaleId: scale.id,
      gradeCode: grade.code,
      givenGradeCode: given,
      reject: grade.reject,
      defects: uniqueDefects,
      comment: comment.trim(),
      gradedByUserId: grader.userId,
      gradedByName: grader.displayName,
      graderInstitutionId: grader.institutionId,
      rejectionKos: grade.reject ? { seriesInstanceUid: DicomMetaDictionary.uid(), sopInstanceUid: DicomMetaDictionary.uid() } : null,
    });
    if (stored.reject) await this.deps.onReject(stored);
    return stored;
  }

  async studyQuality(studyInstanceUid: string, institutionId: string | null): Promise<StudyQuality> {
    const history = await this.deps.repository.gradesOfStudy(studyInstanceUid);
    const current = history.filter((grade) => grade.supersededBy === null);
    const configuration = await this.configurationFor(institutionId);
    return { studyInstanceUid, studyGrade: worstGrade(configuration, current), current, history };
  }

  /** The grades of many studies at once (a person's timeline), each its worst series' current grade; ungraded studies are absent. */
  async studyGrades(studyInstanceUids: readonly string[], institutionId: string | null): Promise<Map<string, NonNullable<StudyQuality['studyGrade']>>> {
    const current = await this.deps.repository.currentGradesOfStudies(studyInstanceUids);
    const configuration = await this.configurationFor(institutionId);
    const byStudy = new Map<string, StoredQcGrade[]>();
    for (const grade of current) byStudy.set(grade.studyInstanceUid, [...(byStudy.get(grade.studyInstanceUid) ?? []), grade]);
    const grades = new Map<string, NonNullable<StudyQuality['studyGrade']>>();
    for (const [study, ofStudy] of byStudy) {
      const grade = worstGrade(configuration, ofStudy);
      if (grade) grades.set(study, grade);
    }
    return grades;
  }
}

function centreOf(actor: Actor): string {
  if (!actor.institutionId) throw new QualityRefusal(403, 'a QC configuration belongs to a centre: sign in as the administrator of the centre whose configuration it is');
  return actor.institutionId;
}

/** What comparing grades needs of a series' current grade. */
export type GradeFacts = Pick<StoredQcGrade, 'scaleId' | 'gradeCode' | 'reject'>;

/**
 * The study's grade: its worst series'. Series on different scales (a study with CT and DX) are
 * compared by their place in their own scale, a reject always the worst; a grade whose scale the
 * centre no longer has is left out rather than guessed at.
 */
export function worstGrade(configuration: QcConfiguration, current: readonly GradeFacts[]): StudyQuality['studyGrade'] {
  let worst: { severity: number; scale: QcScale; code: string } | null = null;
  for (const grade of current) {
    const scale = configuration.scales.find((candidate) => candidate.id === grade.scaleId);
    if (!scale || !scale.grades.some((candidate) => candidate.code === grade.gradeCode)) continue;
    const severity = grade.reject ? 2 : gradeRank(scale, grade.gradeCode) / (scale.grades.length - 1);
    if (!worst || severity > worst.severity) worst = { severity, scale, code: grade.gradeCode };
  }
  return worst ? { scaleId: worst.scale.id, grade: worst.scale.grades[gradeRank(worst.scale, worst.code)]! } : null;
}
