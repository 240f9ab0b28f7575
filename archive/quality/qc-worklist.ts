import { z } from 'zod';
import type { WorklistRow } from '../db/qc-worklist-repository.ts';
import type { QcGrade } from './qc-scales.ts';
import { technicalCheckThresholdsSchema } from './technical-checks.ts';

/**
 * A QC centre's work-list settings (质控抽检规则) and the report QC grade (报告质控), validated here
 * where they enter. Sampling draws N % of each institution's studies per modality and month; the draw
 * itself is a keyed hash computed in SQL (archive/db/qc-worklist-repository.ts), so it is the same
 * every time the list is built and a study arriving late is drawn or not as it comes.
 */

const modality = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_]{1,16}$/)
  .transform((value) => value.toUpperCase());

/** One rule: the rate for an institution (none: every institution of the centre's scope) and a modality (none: every modality). */
export const samplingRuleSchema = z.strictObject({
  institutionId: z.string().regex(/^\d{1,18}$/).optional(),
  modality: modality.optional(),
  ratePercent: z.number().min(0).max(100),
});
export type SamplingRule = z.infer<typeof samplingRuleSchema>;

export const qcWorklistSettingsSchema = z.strictObject({
  sampling: z
    .strictObject({
      /** The rate where no rule matches. */
      defaultRatePercent: z.number().min(0).max(100).default(5),
      /** The most specific matching rule wins: institution and modality, then institution, then modality. */
      rules: z.array(samplingRuleSchema).max(500).default([]),
    })
    .default({ defaultRatePercent: 5, rules: [] }),
  checks: technicalCheckThresholdsSchema.default(technicalCheckThresholdsSchema.parse({})),
});
export type QcWorklistSettings = z.infer<typeof qcWorklistSettingsSchema>;
export const DEFAULT_QC_WORKLIST_SETTINGS: QcWorklistSettings = qcWorklistSettingsSchema.parse({});

/** Why a study is on the work list. */
export const WORKLIST_REASONS = ['sampled', 'flagged', 'auto-check'] as const;
export type WorklistReason = (typeof WORKLIST_REASONS)[number];

/** A study on the work list, as GET /api/quality/worklist answers it. */
export interface WorklistEntry extends Omit<WorklistRow, 'sampled' | 'graded'> {
  /** Why the study is on the list: drawn by the sampling rules, flagged by a clinician, failed by the technical checks. */
  reasons: WorklistReason[];
  /** Image QC: the study's grade (its worst series'), or null while ungraded. */
  grade: { scaleId: string; grade: QcGrade } | null;
}

/** The query of GET /api/quality/worklist. */
export const worklistQuerySchema = z.strictObject({
  month: z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/),
  institution: z.string().regex(/^\d{1,18}$/).optional(),
  modality: modality.optional(),
  /** Image QC status: not graded yet, or graded. */
  status: z.enum(['ungraded', 'graded']).optional(),
});
export type WorklistQuery = z.infer<typeof worklistQuerySchema>;

/** A clinician's request that QC look at a study. */
export const qcFlagRequestSchema = z.strictObject({ reason: z.string().trim().min(1).max(500) });

export const REPORT_QC_GRADES = ['conforming', 'basically-conforming', 'non-conforming'] as const;
export const REPORT_QC_ERRORS = ['missed-finding', 'wrong-laterality', 'inconsistent-findings-impression', 'non-standard-terms', 'late'] as const;

/** What a QC grader sends for a report (符合 / 基本符合 / 不符合, with error categories). */
export const reportQcGradeRequestSchema = z
  .strictObject({
    grade: z.enum(REPORT_QC_GRADES),
    errors: z.array(z.enum(REPORT_QC_ERRORS)).max(REPORT_QC_ERRORS.length).default([]),
    comment: z.string().trim().max(2000).default(''),
    /** The signed version graded; by default the newest. */
    version: z.number().int().min(1).optional(),
  })
  .refine((request) => request.grade !== 'non-conforming' || request.errors.length > 0, { message: 'a non-conforming report names at least one error category', path: ['errors'] })
  .refine((request) => request.grade !== 'conforming' || request.errors.length === 0, { message: 'a conforming report has no errors', path: ['errors'] });
