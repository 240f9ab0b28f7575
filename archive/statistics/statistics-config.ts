import { z } from 'zod';

/**
 * The definitions of the region's figures where the national ones are not fixed (docs/recognition.md,
 * "Statistics for the region"): which grades count as 甲片, which report grades as conforming, which
 * decisions count as recognitions of an eligible prior, and what a repeated examination would have cost.
 */
export const statisticsConfigSchema = z
  .object({
    /** The best grades whose share is the A-grade rate, per scale; a scale not named is not in the rate. */
    aGrade: z.record(z.string().min(1).max(32), z.array(z.string().min(1).max(32)).min(1).max(10)),
    /** Report grades that count as conforming in the report QC rate. */
    reportConforming: z.array(z.enum(['conforming', 'basically-conforming'])).min(1),
    /** Count only recognitions of priors carrying the HR mark (the rate's denominator counts only those). */
    recognisedNeedsMark: z.boolean(),
    /** Yuan per examination avoided, by modality; a modality not named counts 0. */
    pricesYuan: z.record(z.string().regex(/^[A-Z0-9]{1,16}$/), z.number().nonnegative().max(1_000_000)),
  })
  .strict();
export type StatisticsConfig = z.infer<typeof statisticsConfigSchema>;

/**
 * Defaults. 甲片率 is a radiograph figure (甲/乙/丙/废片); CT and MR are graded on their own scales and
 * are left out of it unless a region names their best grade (e.g. { ct: ['excellent'] }). Conforming
 * is 符合 only. The prices are ours: typical public-hospital charges in Chinese provinces' price lists
 * (DR chest about ¥70, plain CT ¥300, MR ¥600, ultrasound ¥120, mammography ¥150), to be replaced by
 * the region's own price list.
 */
export const DEFAULT_STATISTICS_CONFIG: StatisticsConfig = {
  aGrade: { radiography: ['A'] },
  reportConforming: ['conforming'],
  recognisedNeedsMark: false,
  pricesYuan: { CR: 60, DX: 70, DR: 70, MG: 150, CT: 300, MR: 600, US: 120, XA: 800, NM: 900, PT: 7000 },
};

export const STATISTICS_DIMENSIONS = ['institution', 'modality', 'technologist', 'month'] as const;
export type StatisticsDimension = (typeof STATISTICS_DIMENSIONS)[number];

/** What the rollups hold for one group (one combination of the dimensions asked for). */
export interface GroupCounts {
  studies: number;
  reportsFinal: number;
  reportQcGraded: number;
  reportQcConforming: number;
  reportQcBasically: number;
  /** Studies per scale and grade (the study's grade: its worst series'). */
  grades: { scaleId: string; gradeCode: string; reject: boolean; studies: number }[];
  /** Final reports per turnaround bucket (its lower bound in minutes). */
  turnaround: { bucketMinutes: number; reports: number }[];
  /** Recognition events: views of other institutions' priors, decisions, by reason. */
  recognition: { kind: 'viewed' | 'recognised' | 'not-recognised'; reasonCode: string; eligible: boolean; modality: string; events: number }[];
}

/** The figures of one group, as the dashboard and the exports show them. */
export interface Figures {
  studies: number;
  graded: number;
  gradeDistribution: Record<string, number>;
  /** Studies on the scales of the A-grade rate that are graded, and those with a best grade. */
  aGradeGraded: number;
  aGrade: number;
  aGradeRate: number | null;
  reportsFinal: number;
  reportQcGraded: number;
  reportQcConforming: number;
  reportQcRate: number | null;
  reportQcGradedShare: number | null;
  turnaroundMedianMinutes: number | null;
  turnaroundP90Minutes: number | null;
  eligibleViewed: number;
  recognised: number;
  notRecognised: number;
  recognitionRate: number | null;
  notRecognisedReasons: Record<string, number>;
  repeatsAvoided: number;
  costAvoidedYuan: number;
}

/** The turnaround histogram's buckets, as migration 022's statistics_turnaround_bucket numbers them (1-based). */
export const TURNAROUND_BUCKETS = 100;

/** The lower bound in minutes of a turnaround bucket: 5 minutes under an hour, 15 under 6 hours, an hour under a day, 6 hours under a week, then days. */
export function turnaroundBucketMinutes(bucket: number): number {
  const index = bucket - 1;
  if (index < 12) return index * 5;
  if (index < 32) return 60 + (index - 12) * 15;
  if (index < 50) return 360 + (index - 32) * 60;
  if (index < 74) return 1440 + (index - 50) * 360;
  return 10080 + (index - 74) * 1440;
}

const share = (part: number, whole: number) => (whole > 0 ? part / whole : null);

/**
 * The nearest-rank percentile of a histogram: the lower bound of the bucket holding the ⌈p·n⌉-th
 * smallest value (5 minutes wide under an hour; see turnaroundBucketMinutes).
 */
export function histogramPercentile(buckets: readonly { bucketMinutes: number; reports: number }[], p: number): number | null {
  const sorted = [...buckets].filter((bucket) => bucket.reports > 0).sort((a, b) => a.bucketMinutes - b.bucketMinutes);
  const total = sorted.reduce((sum, bucket) => sum + bucket.reports, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(p * total));
  let seen = 0;
  for (const bucket of sorted) {
    seen += bucket.reports;
    if (seen >= rank) return bucket.bucketMinutes;
  }
  return sorted[sorted.length - 1]!.bucketMinutes;
}

/** Every figure of a group from its counts, by the configured definitions. */
export function figuresOf(counts: GroupCounts, config: StatisticsConfig): Figures {
  const gradeDistribution: Record<string, number> = {};
  let graded = 0;
  let aGradeGraded = 0;
  let aGrade = 0;
  for (const grade of counts.grades) {
    if (grade.studies === 0) continue;
    graded += grade.studies;
    const key = `${grade.scaleId}:${grade.gradeCode}`;
    gradeDistribution[key] = (gradeDistribution[key] ?? 0) + grade.studies;
    const best = config.aGrade[grade.scaleId];
    if (!best) continue;
    aGradeGraded += grade.studies;
    if (!grade.reject && best.includes(grade.gradeCode)) aGrade += grade.studies;
  }
  const reportQcConforming = (config.reportConforming.includes('conforming') ? counts.reportQcConforming : 0) + (config.reportConforming.includes('basically-conforming') ? counts.reportQcBasically : 0);
  let eligibleViewed = 0;
  let recognised = 0;
  let notRecognised = 0;
  let costAvoidedYuan = 0;
  const notRecognisedReasons: Record<string, number> = {};
  for (const event of counts.recognition) {
    if (event.kind === 'viewed') {
      if (event.eligible) eligibleViewed += event.events;
    } else if (event.kind === 'recognised') {
      if (config.recognisedNeedsMark && !event.eligible) continue;
      recognised += event.events;
      costAvoidedYuan += event.events * (config.pricesYuan[event.modality.toUpperCase()] ?? 0);
    } else {
      notRecognised += event.events;
      notRecognisedReasons[event.reasonCode] = (notRecognisedReasons[event.reasonCode] ?? 0) + event.events;
    }
  }
  return {
    studies: counts.studies,
    graded,
    gradeDistribution,
    aGradeGraded,
    aGrade,
    aGradeRate: share(aGrade, aGradeGraded),
    reportsFinal: counts.reportsFinal,
    reportQcGraded: counts.reportQcGraded,
    reportQcConforming,
    reportQcRate: share(reportQcConforming, counts.reportQcGraded),
    reportQcGradedShare: share(counts.reportQcGraded, counts.reportsFinal),
    turnaroundMedianMinutes: histogramPercentile(counts.turnaround, 0.5),
    turnaroundP90Minutes: histogramPercentile(counts.turnaround, 0.9),
    eligibleViewed,
    recognised,
    notRecognised,
    recognitionRate: share(recognised, eligibleViewed),
    notRecognisedReasons,
    repeatsAvoided: recognised,
    costAvoidedYuan,
  };
}
