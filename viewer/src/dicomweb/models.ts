import type { ReportStatusSummary } from '../../../archive/reading/report.ts';
import type { BilingualLabel, PriorEntry } from '../../../archive/recognition/recognition-wire.ts';
import { hrMarkFromAttributes, type HrMarkAttributesRead } from '../../../archive/recognition/hr-mark-dicom.ts';
import { formatPersonName, number, personName, text, texts, type DicomJson, type PersonNameValue } from '../dicom/dataset.ts';

/** A row of the study list or the priors panel, from a QIDO-RS study result. */
export interface StudySummary {
  studyInstanceUid: string;
  patientName: PersonNameValue;
  patientId: string;
  issuerOfPatientId: string;
  patientBirthDate: string;
  patientSex: string;
  studyDate: string;
  studyTime: string;
  accessionNumber: string;
  modalities: string[];
  description: string;
  institution: string;
  seriesCount: number | undefined;
  instanceCount: number | undefined;
  /** The HR mark from the result's private block (YINGYUN HR); null when the result has none. */
  hr: HrMarkAttributesRead | null;
}

/** A row of the priors panel: the study, whose it is, its report and its HR mark. */
export interface PriorStudy extends StudySummary {
  /** The institution it belongs to, as the archive registers it. */
  institutionName: string;
  otherInstitution: boolean;
  reportStatus: ReportStatusSummary | null;
  /** The mark's text (渝HR) when it carries one. */
  hrMark: string | null;
  /** The mark's last valid day, with the mark. */
  hrMarkValidUntil: string | null;
  /** Why it carries none, when the archive knows. */
  hrMarkAbsence: BilingualLabel[];
}

export function priorStudy(entry: PriorEntry): PriorStudy {
  return {
    ...studySummary(entry.study as DicomJson),
    institutionName: entry.institution.name,
    otherInstitution: entry.otherInstitution,
    reportStatus: entry.reportStatus,
    hrMark: entry.hrMark?.carries ? entry.hrMark.text : null,
    hrMarkValidUntil: entry.hrMark?.carries ? entry.hrMark.validUntil : null,
    hrMarkAbsence: entry.hrMarkAbsence,
  };
}

export interface SeriesSummary {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  modality: string;
  seriesNumber: number | undefined;
  description: string;
  instanceCount: number | undefined;
}

export function studySummary(dataset: DicomJson): StudySummary {
  return {
    studyInstanceUid: text(dataset, 'StudyInstanceUID'),
    patientName: personName(dataset, 'PatientName'),
    patientId: text(dataset, 'PatientID'),
    issuerOfPatientId: text(dataset, 'IssuerOfPatientID'),
    patientBirthDate: text(dataset, 'PatientBirthDate'),
    patientSex: text(dataset, 'PatientSex'),
    studyDate: text(dataset, 'StudyDate'),
    studyTime: text(dataset, 'StudyTime'),
    accessionNumber: text(dataset, 'AccessionNumber'),
    modalities: texts(dataset, 'ModalitiesInStudy'),
    description: text(dataset, 'StudyDescription'),
    institution: text(dataset, 'InstitutionName'),
    seriesCount: number(dataset, 'NumberOfStudyRelatedSeries'),
    instanceCount: number(dataset, 'NumberOfStudyRelatedInstances'),
    hr: hrMarkFromAttributes(dataset),
  };
}

export function seriesSummary(dataset: DicomJson, studyInstanceUid: string): SeriesSummary {
  return {
    studyInstanceUid: text(dataset, 'StudyInstanceUID') || studyInstanceUid,
    seriesInstanceUid: text(dataset, 'SeriesInstanceUID'),
    modality: text(dataset, 'Modality'),
    seriesNumber: number(dataset, 'SeriesNumber'),
    description: text(dataset, 'SeriesDescription'),
    instanceCount: number(dataset, 'NumberOfSeriesRelatedInstances'),
  };
}

/**
 * What a series holds, by its modality: images to hang in a viewport, or a document of the study —
 * a structured report (measurements, a diagnostic report), key images (Key Object Selection), an
 * encapsulated PDF report, a presentation state — listed beside the images but never drawn as one.
 */
export type SeriesKind = 'images' | 'structured-report' | 'key-images' | 'pdf' | 'presentation-state';
const DOCUMENT_KINDS: Record<string, SeriesKind> = { SR: 'structured-report', KO: 'key-images', DOC: 'pdf', PR: 'presentation-state' };

export function seriesKind(series: Pick<SeriesSummary, 'modality'>): SeriesKind {
  return DOCUMENT_KINDS[series.modality] ?? 'images';
}

export function isImageSeries(series: Pick<SeriesSummary, 'modality'>): boolean {
  return seriesKind(series) === 'images';
}

/** Series in the order a reader expects them: by Series Number, unnumbered last. */
export function sortSeries(series: readonly SeriesSummary[]): SeriesSummary[] {
  return [...series].sort((a, b) => (a.seriesNumber ?? Infinity) - (b.seriesNumber ?? Infinity));
}

/**
 * The series of a prior to hang beside a current series: same modality first, then the closest
 * description (kernels and windows are named alike within a region's hospitals), then the
 * largest. Falls back to the prior's first series.
 */
export function matchingSeries(current: SeriesSummary | undefined, candidates: readonly SeriesSummary[]): SeriesSummary | undefined {
  if (!current) return candidates[0];
  const score = (candidate: SeriesSummary) =>
    (candidate.modality === current.modality ? 1000 : 0) + sharedCharacters(candidate.description, current.description) * 10 + Math.min(9, Math.log10(1 + (candidate.instanceCount ?? 0)));
  return [...candidates].sort((a, b) => score(b) - score(a))[0];
}

function sharedCharacters(a: string, b: string): number {
  const left = new Set(a.toLowerCase());
  return [...new Set(b.toLowerCase())].filter((character) => character.trim() && left.has(character)).length;
}

/** A comparison label: where and when, which is what tells a prior from the current study. */
export function studyLabel(study: Pick<StudySummary, 'institution' | 'studyDate'>, formatDate: (dicomDate: string) => string): string {
  return [study.institution, formatDate(study.studyDate)].filter(Boolean).join(' · ');
}

export function patientDisplayName(study: Pick<StudySummary, 'patientName'>, locale: string): string {
  return formatPersonName(study.patientName, locale);
}
