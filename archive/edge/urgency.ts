import { z } from 'zod';
import { firstString } from '../dicom/normalize.ts';
import type { DicomJsonDataset } from '../dicom/types.ts';

/**
 * How urgently an instance must reach the region, from the study's Requested Procedure Priority
 * (0040,1003; PS3.3 C.4.11: STAT, HIGH, ROUTINE, MEDIUM, LOW) or a rule the county configures for
 * what its PACS sends without one (e.g. every head CT is STAT). Ranks: 0 most urgent … 4 least;
 * the forward queue sends the lowest rank first, then the oldest receipt.
 */
export const PRIORITIES = ['STAT', 'HIGH', 'MEDIUM', 'ROUTINE', 'LOW'] as const;
export type Priority = (typeof PRIORITIES)[number];

/** What a receipt carries when neither its dataset nor a rule says otherwise. */
export const DEFAULT_PRIORITY: Priority = 'ROUTINE';

export const urgencyRuleSchema = z.strictObject({
  /** Modality (0008,0060), e.g. CT. */
  modality: z.string().trim().toUpperCase().min(1).max(16).optional(),
  /** Body Part Examined (0018,0015), e.g. HEAD. */
  bodyPart: z.string().trim().toUpperCase().min(1).max(16).optional(),
  priority: z.enum(PRIORITIES),
}).refine((rule) => rule.modality !== undefined || rule.bodyPart !== undefined, { message: 'a rule names a modality, a body part or both' });
export type UrgencyRule = z.infer<typeof urgencyRuleSchema>;

const REQUESTED_PROCEDURE_PRIORITY = '00401003';
const REQUEST_ATTRIBUTES_SEQUENCE = '00400275';

export function urgencyRank(priority: Priority): number {
  return PRIORITIES.indexOf(priority);
}

/** The most urgent of what the dataset asks (top level or any Request Attributes item) and the rules that match it. */
export function urgencyOf(metadata: DicomJsonDataset, rules: readonly UrgencyRule[]): number {
  const asked = [metadata, ...requestItems(metadata)]
    .map((dataset) => firstString(dataset, REQUESTED_PROCEDURE_PRIORITY)?.trim().toUpperCase())
    .filter((value): value is Priority => (PRIORITIES as readonly string[]).includes(value ?? ''));
  const modality = firstString(metadata, '00080060')?.trim().toUpperCase();
  const bodyPart = firstString(metadata, '00180015')?.trim().toUpperCase();
  const ruled = rules
    .filter((rule) => (rule.modality === undefined || rule.modality === modality) && (rule.bodyPart === undefined || rule.bodyPart === bodyPart))
    .map((rule) => rule.priority);
  return Math.min(...[...asked, ...ruled, DEFAULT_PRIORITY].map(urgencyRank));
}

function requestItems(metadata: DicomJsonDataset): DicomJsonDataset[] {
  return (metadata[REQUEST_ATTRIBUTES_SEQUENCE]?.Value ?? []).filter((item): item is DicomJsonDataset => typeof item === 'object' && item !== null);
}
