import { z } from 'zod';
import { configuredCodeSchema, configuredLabelSchema, type CataloguedCode, type ConfiguredLabel } from '../i18n/configured-label.ts';

/**
 * Why a clinician does not recognise (不予互认) a prior examination, from the list the province
 * configures, and the decision a clinician records about a prior.
 *
 * The default list follows what provincial and hospital notices publish, which repeat the 2022
 * national measures' exceptions: the condition changed or the result does not match the clinical
 * picture; results that change quickly as the disease develops; before a major intervention
 * (surgery, transfusion); emergency and life-saving care; forensic, disability or retirement
 * appraisal; quality insufficient or external QC (室间质评) failed; done too long ago to be of value;
 * the patient or family asks for a new examination; the physician judges it necessary. The last
 * needs the physician's words (`requiresText`), since it is the catch-all the others are not.
 */

export interface RecognitionReason {
  code: string;
  label: ConfiguredLabel;
  /** The clinician must say more in free text. */
  requiresText: boolean;
}

/** A province's configured list, checked where it enters (the admin API). */
export const recognitionReasonsSchema: z.ZodType<RecognitionReason[]> = z
  .array(z.strictObject({ code: configuredCodeSchema, label: configuredLabelSchema, requiresText: z.boolean() }))
  .min(1)
  .max(32)
  .refine((reasons) => new Set(reasons.map((reason) => reason.code)).size === reasons.length, 'reason codes repeat');

type DefaultReasonCode = CataloguedCode<'recognition.reason.'>;
const reason = (reasonCode: DefaultReasonCode, requiresText = false): RecognitionReason => ({
  code: reasonCode,
  label: { key: `recognition.reason.${reasonCode}` as const },
  requiresText,
});

export const DEFAULT_RECOGNITION_REASONS: RecognitionReason[] = [
  reason('condition-changed'),
  reason('rapidly-changing'),
  reason('major-intervention'),
  reason('emergency'),
  reason('appraisal'),
  reason('quality-insufficient'),
  reason('beyond-validity'),
  reason('patient-request'),
  reason('physician-judgement', true),
];

/**
 * The order a decision concerns: the new examination ordered, or considered and avoided. Accession
 * Number is an SH (16 characters); an HIS order number is an LO (64); free text when the clinician
 * has neither yet.
 */
const orderReferenceSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('accession-number'), value: z.string().trim().min(1).max(16) }),
  z.strictObject({ kind: z.literal('order-number'), value: z.string().trim().min(1).max(64) }),
  z.strictObject({ kind: z.literal('text'), value: z.string().trim().min(1).max(200) }),
]);

const freeText = z.string().trim().max(500);

/**
 * A clinician's decision on one prior, against the province's reasons:
 * - recognised: the order reference only;
 * - not recognised: one of the reasons, its text when the reason requires it, and the confirmation
 *   that the patient was told the purpose of the new examination, which the national measures ask
 *   of a doctor who repeats one.
 */
export function recognitionDecisionSchema(reasons: readonly RecognitionReason[]) {
  const byCode = new Map(reasons.map((candidate) => [candidate.code, candidate]));
  return z.discriminatedUnion('decision', [
    z.strictObject({ decision: z.literal('recognised'), order: orderReferenceSchema }),
    z
      .strictObject({
        decision: z.literal('not-recognised'),
        reasonCode: z.string().refine((reasonCode) => byCode.has(reasonCode), 'not a reason of this region'),
        text: freeText.optional(),
        patientInformed: z.literal(true, 'the patient must be told the purpose of the new examination'),
        order: orderReferenceSchema,
      })
      .refine((decision) => !byCode.get(decision.reasonCode)?.requiresText || (decision.text ?? '') !== '', {
        message: 'this reason needs an explanation',
        path: ['text'],
      }),
  ]);
}

export type RecognitionDecision = z.infer<ReturnType<typeof recognitionDecisionSchema>>;
