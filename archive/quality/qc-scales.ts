import { z } from 'zod';
import { configuredCodeSchema, configuredLabelSchema, type CataloguedCode } from '../i18n/configured-label.ts';
import { defectCategories, type DefectCategory, type QcConfiguration, type QcDefect, type QcGrade } from './qc-grades.ts';

export * from './qc-grades.ts';

/**
 * Image QC grade scales and the coded defect catalogue a QC centre grades with.
 *
 * A scale is an ordered list of grades, best first, for the modalities it names. Grades flagged
 * `reject` (废片: the images cannot be used, the examination is repeated) come last, so "worse"
 * is simply "later in the list" and a study's grade is its worst series' grade.
 *
 * Defaults: radiography (CR, DX, MG) on 甲 / 乙 / 丙 / 废片, the scale Chinese departments and QC
 * centres grade films on. CT and MR on 优 / 良 / 合格 / 不合格: regional QC centres do not publish one
 * common CT or MR scale (some grade them 甲 / 乙 / 丙 as well), so this one is ours; a centre
 * configures its own through `qcConfigurationSchema`.
 *
 * Defects are coded by category; a defect marked `veto` (单项否决) forces the scale's lowest grade
 * whatever the grader chose, because one such fault makes the images unusable for recognition
 * (a wrong left/right marker, another patient's data). The other defects are recorded to explain
 * the grade and feed the statistics; they do not move it.
 */

/** A DICOM code string (CS) value such as a Modality or Body Part Examined, compared in upper case. */
export const dicomCodeSchema = z.string().trim().toUpperCase().regex(/^[A-Z0-9_ ]{1,16}$/, 'a DICOM code string');

const gradeSchema = z.strictObject({ code: configuredCodeSchema, label: configuredLabelSchema, reject: z.boolean() });

const scaleSchema = z
  .strictObject({ id: configuredCodeSchema, modalities: z.array(dicomCodeSchema).min(1).max(16), grades: z.array(gradeSchema).min(2).max(10) })
  .superRefine((scale, context) => {
    if (new Set(scale.grades.map((grade) => grade.code)).size !== scale.grades.length) {
      context.addIssue({ code: 'custom', path: ['grades'], message: 'grade codes repeat' });
    }
    if (scale.grades[0]?.reject !== false) {
      context.addIssue({ code: 'custom', path: ['grades'], message: 'the best grade may not be a reject' });
    }
    const firstReject = scale.grades.findIndex((grade) => grade.reject);
    if (firstReject >= 0 && scale.grades.slice(firstReject).some((grade) => !grade.reject)) {
      context.addIssue({ code: 'custom', path: ['grades'], message: 'reject grades must be the lowest' });
    }
  });

const defectSchema = z.strictObject({
  code: configuredCodeSchema,
  category: z.enum(defectCategories),
  label: configuredLabelSchema,
  veto: z.boolean(),
  modalities: z.array(dicomCodeSchema).min(1).max(16).optional(),
});

/** A QC centre's configured scales and defect catalogue, checked where it enters (the admin API). */
export const qcConfigurationSchema: z.ZodType<QcConfiguration> = z
  .strictObject({ scales: z.array(scaleSchema).min(1).max(16), defects: z.array(defectSchema).max(200) })
  .superRefine((configuration, context) => {
    if (new Set(configuration.scales.map((scale) => scale.id)).size !== configuration.scales.length) {
      context.addIssue({ code: 'custom', path: ['scales'], message: 'scale ids repeat' });
    }
    const modalities = configuration.scales.flatMap((scale) => scale.modalities);
    if (new Set(modalities).size !== modalities.length) {
      context.addIssue({ code: 'custom', path: ['scales'], message: 'a modality is graded on two scales' });
    }
    if (new Set(configuration.defects.map((defect) => defect.code)).size !== configuration.defects.length) {
      context.addIssue({ code: 'custom', path: ['defects'], message: 'defect codes repeat' });
    }
  });

const radiographyGrades: QcGrade[] = [
  { code: 'A', label: { key: 'qc.grade.A' }, reject: false },
  { code: 'B', label: { key: 'qc.grade.B' }, reject: false },
  { code: 'C', label: { key: 'qc.grade.C' }, reject: false },
  { code: 'reject', label: { key: 'qc.grade.reject' }, reject: true },
];
const crossSectionalGrades: QcGrade[] = [
  { code: 'excellent', label: { key: 'qc.grade.excellent' }, reject: false },
  { code: 'good', label: { key: 'qc.grade.good' }, reject: false },
  { code: 'acceptable', label: { key: 'qc.grade.acceptable' }, reject: false },
  { code: 'unacceptable', label: { key: 'qc.grade.unacceptable' }, reject: true },
];

const RADIOGRAPHY = ['CR', 'DX', 'MG'];

/** The default defects are the ones the catalogue has a `qc.defect.<code>` label for. */
type DefaultDefectCode = CataloguedCode<'qc.defect.'>;

const defect = (code: DefaultDefectCode, category: DefectCategory, veto: boolean, modalities?: string[]): QcDefect => ({
  code,
  category,
  label: { key: `qc.defect.${code}` as const },
  veto,
  ...(modalities ? { modalities } : {}),
});

export const DEFAULT_QC_CONFIGURATION: QcConfiguration = {
  scales: [
    { id: 'radiography', modalities: RADIOGRAPHY, grades: radiographyGrades },
    { id: 'ct', modalities: ['CT'], grades: crossSectionalGrades },
    { id: 'mr', modalities: ['MR'], grades: crossSectionalGrades },
  ],
  defects: [
    defect('positioning', 'positioning', false),
    defect('centring', 'centring', false),
    defect('scan-range', 'scan-range', false, ['CT', 'MR']),
    defect('collimation', 'scan-range', false, RADIOGRAPHY),
    defect('artefact-motion', 'artefact', false),
    defect('artefact-metal', 'artefact', false),
    defect('artefact-foreign-body', 'artefact', false),
    defect('artefact-equipment', 'artefact', false),
    defect('exposure-under', 'exposure', false, [...RADIOGRAPHY, 'CT']),
    defect('exposure-over', 'exposure', false, RADIOGRAPHY),
    defect('dose-excessive', 'exposure', false, [...RADIOGRAPHY, 'CT']),
    defect('labels-missing', 'labels', false),
    // A radiograph's side is known only from its marker; CT and MR carry it in the image orientation.
    defect('lr-marker-missing', 'labels', true, RADIOGRAPHY),
    defect('lr-marker-wrong', 'labels', true, RADIOGRAPHY),
    defect('window-missing', 'missing-content', false, ['CT']),
    defect('sequence-missing', 'missing-content', false, ['MR']),
    defect('phase-missing', 'missing-content', false, ['CT', 'MR']),
    defect('patient-data-missing', 'patient-data', false),
    defect('patient-data-wrong', 'patient-data', true),
  ],
};
