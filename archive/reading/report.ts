import { z } from 'zod';

/**
 * A diagnostic report as it crosses the wire (server, viewer, and the PDF, FHIR and notification
 * slices that read it). One report per study; what a reader types is the server-side draft, every
 * signature makes a version, and a signed version never changes: a correction is a new version
 * (an amendment) with a reason.
 */

/** draft: nothing signed yet; preliminary: 初诊 signed, awaiting 审核; final: 审核 signed; amended: final, corrected since. */
export const REPORT_STATUSES = ['draft', 'preliminary', 'final', 'amended'] as const;
export type ReportStatus = (typeof REPORT_STATUSES)[number];

/** 初诊 (preliminary, by the reader) or 审核 (final, by a verifier: also every amendment). */
export const SIGNATURE_ROLES = ['preliminary', 'final'] as const;
export type SignatureRole = (typeof SIGNATURE_ROLES)[number];

/** A critical finding (危急值): the category from the centre's list, and what was found. */
export const criticalFindingSchema = z.object({
  category: z.string().trim().min(1).max(64),
  text: z.string().trim().min(1).max(2000),
});
export type CriticalFinding = z.infer<typeof criticalFindingSchema>;

/** What a report says: 检查所见 (findings) and 诊断意见 (impression), as typed. */
export const reportContentSchema = z.object({
  findings: z.string().max(20_000),
  impression: z.string().max(10_000),
  criticalFinding: criticalFindingSchema.nullable().default(null),
  /** The template the reader started from, if any (a shipped id such as 'ct-chest-zh', or a centre's numeric id). */
  templateId: z.string().max(64).nullable().default(null),
});
export type ReportContent = z.infer<typeof reportContentSchema>;

export const EMPTY_REPORT_CONTENT: ReportContent = { findings: '', impression: '', criticalFinding: null, templateId: null };

/** Who signed, as it stands in the SR's observer context and on the PDF: copied at signing, never looked up again. */
export interface ReportSignature {
  role: SignatureRole;
  userId: string;
  /** The person name as DICOM PN text, groups kept ('Li^Ming=李^明'). */
  name: string;
  /** Professional title (职称), e.g. 主治医师. */
  title: string | null;
  /** Licence number (执业证号): the code of the Verifying Observer Identification Code Sequence. */
  licence: string | null;
  institution: string;
  /** ISO 8601. */
  signedAt: string;
}

/** One signed state of a report. Versions count from 1; each has its own SR (and PDF). */
export interface ReportVersion {
  version: number;
  status: Exclude<ReportStatus, 'draft'>;
  content: ReportContent;
  /** The signatures this version carries: the preliminary's, then the final's (a final keeps the 初诊 signature). */
  signatures: ReportSignature[];
  /** Why an amendment was made; null otherwise. */
  amendmentReason: string | null;
  /** The Enhanced SR written for this version (assigned at signing, stored by the write-report-sr job). */
  srSopInstanceUid: string;
  srSeriesInstanceUid: string;
  createdAt: string;
}

/** A report with its draft and its versions, newest last. */
export interface Report {
  id: string;
  studyInstanceUid: string;
  /** The UPS workitem it was opened from, if any. */
  workitemUid: string | null;
  /** The institution owning the study: the SR is stored on its behalf. */
  studyInstitutionId: string;
  status: ReportStatus;
  /** The server-side draft: what the editor shows and autosaves. */
  draft: ReportContent;
  /** Optimistic concurrency: a save names the revision it edited and is refused (409) if another came first. */
  draftRevision: number;
  draftUpdatedAt: string;
  draftUpdatedBy: string | null;
  versions: ReportVersion[];
}

/** A save of the draft as typed: the content and the revision it was made from. */
export const draftSaveSchema = z.object({
  content: reportContentSchema,
  revision: z.number().int().min(0),
});
export type DraftSave = z.infer<typeof draftSaveSchema>;

/** Sign the draft: 'preliminary' (初诊), 'final' (审核), or an amendment of a final report with its reason. */
export const signRequestSchema = z.discriminatedUnion('role', [
  z.object({ role: z.literal('preliminary'), revision: z.number().int().min(0) }),
  z.object({ role: z.literal('final'), revision: z.number().int().min(0) }),
  z.object({ role: z.literal('amendment'), revision: z.number().int().min(0), reason: z.string().trim().min(1).max(1000) }),
]);
export type SignRequest = z.infer<typeof signRequestSchema>;

/** A template or a phrase for the editor: shipped (id like 'ct-chest-zh') or a centre's own (numeric id). */
export interface ReportTemplate {
  id: string;
  kind: 'template' | 'phrase';
  /** DICOM modality (CT, MR, DX, …) or null for any. */
  modality: string | null;
  /** Body Part Examined (CHEST, HEAD, …) or null for any. */
  bodyPart: string | null;
  language: 'zh-CN' | 'en';
  name: string;
  /** A template fills both fields; a phrase has only `findings` or `impression` text to insert. */
  findings: string;
  impression: string;
  /** Null for a shipped template. */
  institutionId: string | null;
}

export const newTemplateSchema = z.object({
  kind: z.enum(['template', 'phrase']),
  modality: z.string().trim().toUpperCase().max(16).nullable().default(null),
  bodyPart: z.string().trim().toUpperCase().max(64).nullable().default(null),
  language: z.enum(['zh-CN', 'en']),
  name: z.string().trim().min(1).max(200),
  findings: z.string().max(20_000).default(''),
  impression: z.string().max(10_000).default(''),
});
export type NewTemplate = z.infer<typeof newTemplateSchema>;

/** A hit of the report search: enough for a list row. */
export interface ReportSearchHit {
  reportId: string;
  studyInstanceUid: string;
  status: ReportStatus;
  /** The signed text searched (the newest version's findings and impression). */
  impression: string;
  signedAt: string | null;
}

/**
 * Where a study's report stands, as the study list and the priors panel show it: the newest signed
 * version's status, whether it carries a critical finding (危急值) and when it was signed. A study
 * with only a draft, or none, has no such summary (未报告).
 */
export interface ReportStatusSummary {
  studyInstanceUid: string;
  status: Exclude<ReportStatus, 'draft'>;
  critical: boolean;
  signedAt: string;
}

// Defined in the zod-free report-wire.ts, which the viewer imports; the server's importers still name it here.

/** What an administrator sets on a user for reporting (users columns). */
export const readerAttributesSchema = z.object({
  professionalTitle: z.string().trim().max(64).nullable(),
  // Written into the SR as a code value: DICOM text takes no backslash (the value separator) nor control characters.
  licenceNumber: z.string().trim().max(64).regex(/^[^\\\u0000-\u001f\u007f]*$/, 'a licence number holds no backslash or control character').nullable(),
  mayVerifyReports: z.boolean(),
});
export type ReaderAttributes = z.infer<typeof readerAttributesSchema>;

/** A centre's signing levels: 2 (初诊 then 审核 by another) or 1 (a verifier signs final at once). */
export const reportSettingsSchema = z.object({ signingLevels: z.union([z.literal(1), z.literal(2)]) });
export type ReportSettings = z.infer<typeof reportSettingsSchema>;
