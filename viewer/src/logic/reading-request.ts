import { PATIENT_CLASSES, type PatientClass, type ReadingCentre, type ReadingRequest } from '../../../archive/reading/reading-wire.ts';

/** The request form as typed (远程诊断申请): every field a string, as the inputs hold it. */
export interface RequestForm {
  clinicalQuestion: string;
  history: string;
  clinicalDiagnosis: string;
  orderingDoctor: string;
  department: string;
  patientClass: string;
  /** The chosen reading centre's id; empty until one is chosen. */
  readingCentreId: string;
}

export type RequestField = keyof RequestForm;

/** The longest each field may be: the DICOM attribute it is written to (LO 64, LT for the history). */
export const REQUEST_FIELD_LIMITS: Record<Exclude<RequestField, 'patientClass' | 'readingCentreId'>, number> = {
  clinicalQuestion: 64,
  history: 4000,
  clinicalDiagnosis: 64,
  orderingDoctor: 64,
  department: 64,
};

/** A new form: outpatient, and the signed-in doctor as the ordering doctor until they say otherwise. */
export function emptyRequestForm(orderingDoctor: string): RequestForm {
  return { clinicalQuestion: '', history: '', clinicalDiagnosis: '', orderingDoctor: orderingDoctor.slice(0, REQUEST_FIELD_LIMITS.orderingDoctor), department: '', patientClass: 'outpatient', readingCentreId: '' };
}

/**
 * The centre the form shows as chosen: the one picked, while it is still offered; else the only
 * centre covering the hospital; else none, so that a hospital covered by several picks one itself
 * (the archive refuses to guess between them).
 */
export function chosenCentre(centres: readonly ReadingCentre[], picked: string): string {
  if (centres.some((centre) => centre.id === picked)) return picked;
  return centres.length === 1 ? centres[0]!.id : '';
}

/**
 * The request the archive takes for this study, or which fields stop it: 检查目的 and 申请医生 are
 * required, every text within its attribute's length, the urgency one of the four classes, the
 * reading centre one of those covering the hospital (`centres`). The archive checks the same
 * (reading-service.ts); asking here says it beside the field, before sending.
 */
export function readingRequest(
  studyInstanceUid: string,
  form: RequestForm,
  centres: readonly ReadingCentre[],
): { request: ReadingRequest } | { problems: { field: RequestField; problem: 'required' | 'tooLong' | 'invalid' }[] } {
  const value = (field: keyof typeof REQUEST_FIELD_LIMITS) => form[field].trim();
  const problems: { field: RequestField; problem: 'required' | 'tooLong' | 'invalid' }[] = [];
  for (const field of ['clinicalQuestion', 'orderingDoctor'] as const) if (!value(field)) problems.push({ field, problem: 'required' });
  for (const [field, limit] of Object.entries(REQUEST_FIELD_LIMITS) as [keyof typeof REQUEST_FIELD_LIMITS, number][]) if (value(field).length > limit) problems.push({ field, problem: 'tooLong' });
  const patientClass = PATIENT_CLASSES.find((candidate) => candidate === form.patientClass);
  if (!patientClass) problems.push({ field: 'patientClass', problem: 'invalid' });
  const centre = centres.find((candidate) => candidate.id === form.readingCentreId);
  if (!centre) problems.push({ field: 'readingCentreId', problem: 'invalid' });
  if (problems.length || !patientClass || !centre) return { problems };
  const optional = (field: 'clinicalDiagnosis' | 'department') => (value(field) ? { [field]: value(field) } : {});
  return {
    request: {
      studyInstanceUid,
      clinicalQuestion: value('clinicalQuestion'),
      history: value('history'),
      orderingDoctor: value('orderingDoctor'),
      patientClass: patientClass satisfies PatientClass,
      readingCentreId: centre.id,
      ...optional('clinicalDiagnosis'),
      ...optional('department'),
    },
  };
}
