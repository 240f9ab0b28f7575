import type { DicomJsonDataset } from '../dicom/types.ts';
import type { ReportStatusSummary } from '../reading/report.ts';
import type { HrMarkResult } from './hr-mark.ts';

/**
 * What crosses the wire for recognition (server and viewer alike; zod-free, so the viewer loads no
 * schema with it). Labels come resolved in both languages, since a province's own reasons are not in
 * the viewer's catalogue.
 */

export interface BilingualLabel {
  zh: string;
  en: string;
}

/** One of GET /api/studies/{study}/priors. */
export interface PriorEntry {
  /** A QIDO-RS study result. */
  study: DicomJsonDataset;
  /** The institution the study belongs to, as registered here. */
  institution: { id: string; name: string };
  /** Not the caller's own institution's. */
  otherInstitution: boolean;
  /** Its signed report's status; null when none is signed (or the caller may not see it). */
  reportStatus: ReportStatusSummary | null;
  /** The HR mark today; null when not computed. */
  hrMark: HrMarkResult | null;
  /** Why it carries no mark, in both languages (empty when it carries one). */
  hrMarkAbsence: BilingualLabel[];
}

/** One of GET /api/recognition/reasons. */
export interface ReasonChoice {
  code: string;
  label: BilingualLabel;
  requiresText: boolean;
}

export type OrderKind = 'accession-number' | 'order-number' | 'text';

/** One of GET /api/studies/{study}/recognition-decisions. */
export interface RecognitionDecisionEntry {
  id: string;
  studyInstanceUid: string;
  decidingInstitutionId: string;
  decidingInstitutionName: string;
  decidedByName: string;
  decision: 'recognised' | 'not-recognised';
  reasonCode: string | null;
  reasonText: string | null;
  patientInformed: boolean;
  order: { kind: OrderKind; value: string };
  hrMark: string | null;
  modality: string | null;
  decidedAt: string;
}

/** GET /api/studies/{study}/recognition-decisions: whose study it is, and the decisions the caller may see. */
export interface RecognitionDecisionsAnswer {
  studyInstitution: { id: string; name: string };
  /** Not the caller's own institution's study: the caller may decide on it (with a purpose). */
  otherInstitution: boolean;
  decisions: RecognitionDecisionEntry[];
}
