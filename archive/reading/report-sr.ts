import dcmjs from 'dcmjs';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '../dicom/part10.ts';
import type { DicomJsonDataset, DicomJsonPersonName } from '../dicom/types.ts';
import type { ReportSignature, ReportVersion } from './report.ts';
import { SR_CODES, TAGS, type Code } from './tid2000.ts';

/**
 * A signed report version as a DICOM Enhanced SR (PS3.3 A.35.2) whose content follows TID 2000,
 * Basic Diagnostic Imaging Report: pure, from the version and the study header, so the tests check
 * exactly what the write-report-sr job stores.
 */

export const ENHANCED_SR_SOP_CLASS_UID = '1.2.840.10008.5.1.4.1.1.88.22';
const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
/** Report series are numbered after the acquisition series: 900 + version. */
const REPORT_SERIES_BASE = 900;

/** The study header an SR repeats (Patient and General Study modules), as the index holds it. */
export interface StudyHeader {
  studyInstanceUid: string;
  institutionId: string;
  institutionName: string;
  patientId: string;
  issuer: string;
  patientName: DicomJsonPersonName | null;
  birthDate: string | null;
  sex: string | null;
  studyDate: string | null;
  studyTime: string | null;
  accessionNumber: string | null;
  studyId: string | null;
  /** The study level's stored DICOM JSON, for Referring Physician's Name and Study Description. */
  attributes: DicomJsonDataset;
  /** The patient record's stored patient-level DICOM JSON, for the identifiers a document repeats (otherPatientIds). */
  patientAttributes?: DicomJsonDataset;
}

export interface ReportSrInput {
  study: StudyHeader;
  version: ReportVersion;
  /** The SR of the version before (a preliminary, or the final an amendment corrects): its Predecessor Document. */
  predecessor: { sopInstanceUid: string; seriesInstanceUid: string } | null;
}

/** The SR as DICOM JSON (PS3.18 F.2), without the File Meta Information. */
export function buildReportSr({ study, version, predecessor }: ReportSrInput): DicomJsonDataset {
  const final = version.signatures.find((signature) => signature.role === 'final');
  const newest = final ?? version.signatures.at(-1);
  if (!newest) throw new Error(`report version ${version.version} carries no signature`);
  const signed = dicomDateTime(newest.signedAt);
  const { content } = version;
  const language = /[\u3400-\u9fff]/.test(`${content.findings}${content.impression}`) ? { value: 'zh-CN', scheme: 'RFC5646', meaning: 'Chinese (China)' } : { value: 'en', scheme: 'RFC5646', meaning: 'English' };
  const statusText = { preliminary: '初诊 Preliminary', final: '审核 Final', amended: '更正 Amended' }[version.status];

  const sections = [section(SR_CODES.findingsSection, SR_CODES.finding, content.findings), section(SR_CODES.impressionSection, SR_CODES.impression, content.impression)];
  if (content.criticalFinding) sections.push(section(SR_CODES.criticalResultsSection, SR_CODES.finding, `${content.criticalFinding.category}: ${content.criticalFinding.text}`));

  const dataset: DicomJsonDataset = {
    '00080005': cs('ISO_IR 192'),
    '00080012': da(signed.date),
    '00080013': tm(signed.time),
    '00080016': ui(ENHANCED_SR_SOP_CLASS_UID),
    '00080018': ui(version.srSopInstanceUid),
    '00080020': study.studyDate ? da(study.studyDate) : emptyElement('DA'),
    '00080023': da(signed.date),
    '00080030': study.studyTime ? tm(study.studyTime) : emptyElement('TM'),
    '00080033': tm(signed.time),
    '00080050': study.accessionNumber ? { vr: 'SH', Value: [study.accessionNumber] } : emptyElement('SH'),
    '00080060': cs('SR'),
    '00080070': { vr: 'LO', Value: ['Yingyun'] },
    '00080080': { vr: 'LO', Value: [study.institutionName] },
    '00080090': study.attributes['00080090']?.Value?.length ? { vr: 'PN', Value: study.attributes['00080090'].Value } : emptyElement('PN'),
    '00080201': { vr: 'SH', Value: ['+0000'] },
    ...(study.attributes['00081030']?.Value?.length ? { '00081030': { vr: 'LO', Value: study.attributes['00081030'].Value } } : {}),
    '0008103E': { vr: 'LO', Value: [`诊断报告 Diagnostic report v${version.version} ${statusText}`] },
    '00081111': { vr: 'SQ', Value: [] },
    '00100010': study.patientName ? { vr: 'PN', Value: [study.patientName] } : emptyElement('PN'),
    '00100020': { vr: 'LO', Value: [study.patientId] },
    ...issuerOfPatientId(study.issuer),
    ...otherPatientIds(study),
    '00100030': study.birthDate ? da(study.birthDate) : emptyElement('DA'),
    '00100040': study.sex ? cs(study.sex) : emptyElement('CS'),
    '0020000D': ui(study.studyInstanceUid),
    '0020000E': ui(version.srSeriesInstanceUid),
    '00200010': study.studyId ? { vr: 'SH', Value: [study.studyId] } : emptyElement('SH'),
    '00200011': { vr: 'IS', Value: [REPORT_SERIES_BASE + version.version] },
    '00200013': { vr: 'IS', Value: [1] },
    '0040A491': cs('COMPLETE'),
    '0040A493': cs(final ? 'VERIFIED' : 'UNVERIFIED'),
    '0040A372': { vr: 'SQ', Value: [] },
    ...(final ? { '0040A073': { vr: 'SQ', Value: [verifyingObserver(final)] } } : {}),
    ...(predecessor
      ? {
          '0040A360': {
            vr: 'SQ',
            Value: [
              {
                '0020000D': ui(study.studyInstanceUid),
                '00081115': { vr: 'SQ', Value: [{ '0020000E': ui(predecessor.seriesInstanceUid), '00081199': { vr: 'SQ', Value: [{ '00081150': ui(ENHANCED_SR_SOP_CLASS_UID), '00081155': ui(predecessor.sopInstanceUid) }] } }] },
              },
            ],
          },
        }
      : {}),
    // The root content item (SR Document Content Module): the document title and its tree.
    [TAGS.valueType]: cs('CONTAINER'),
    [TAGS.conceptNameCodeSequence]: codeSequence(SR_CODES.diagnosticImagingReport),
    [TAGS.continuityOfContent]: cs('SEPARATE'),
    [TAGS.contentTemplateSequence]: { vr: 'SQ', Value: [{ [TAGS.mappingResource]: cs('DCMR'), [TAGS.templateIdentifier]: cs('2000') }] },
    [TAGS.contentSequence]: {
      vr: 'SQ',
      Value: [
        { [TAGS.relationshipType]: cs('HAS CONCEPT MOD'), [TAGS.valueType]: cs('CODE'), [TAGS.conceptNameCodeSequence]: codeSequence(SR_CODES.language), [TAGS.conceptCodeSequence]: codeSequence(language) },
        // Every signer is an observer of this version (TID 1002, once per observer): the reader of the
        // 初诊 and, once verified, the verifier.
        ...version.signatures.flatMap((signature): DicomJsonDataset[] => [
          { [TAGS.relationshipType]: cs('HAS OBS CONTEXT'), [TAGS.valueType]: cs('CODE'), [TAGS.conceptNameCodeSequence]: codeSequence(SR_CODES.observerType), [TAGS.conceptCodeSequence]: codeSequence(SR_CODES.person) },
          { [TAGS.relationshipType]: cs('HAS OBS CONTEXT'), [TAGS.valueType]: cs('PNAME'), [TAGS.conceptNameCodeSequence]: codeSequence(SR_CODES.personObserverName), [TAGS.personName]: { vr: 'PN', Value: [personName(signature.name)] } },
          { [TAGS.relationshipType]: cs('HAS OBS CONTEXT'), [TAGS.valueType]: cs('TEXT'), [TAGS.conceptNameCodeSequence]: codeSequence(SR_CODES.personObserverOrganisation), [TAGS.textValue]: { vr: 'UT', Value: [signature.institution] } },
        ]),
        ...sections,
      ],
    },
  };
  return dataset;
}

/**
 * Issuer of Patient ID as the images had it: left out when they had none, for the index's own key
 * then ('source:<id>', 'study:<uid>', archive/index/index-record.ts) names nothing outside Yingyun.
 * The one rule for every object Yingyun writes about a study (report SR and PDF, reading workitems),
 * cut to LO's 64 characters.
 */
export function issuerOfPatientId(issuer: string): DicomJsonDataset {
  return /^(source|study):/.test(issuer) ? {} : { '00100021': { vr: 'LO', Value: [issuer.slice(0, 64)] } };
}

/**
 * The patient record's other identifiers (Other Patient IDs Sequence, the retired Other Patient IDs,
 * Issuer of Patient ID Qualifiers), as the images had them. Every instance stored refreshes the
 * record's patient-level attributes, so a document without them would erase the resident ID the
 * person index links the record by, and the study would leave its person.
 */
export function otherPatientIds(study: Pick<StudyHeader, 'patientAttributes'>): DicomJsonDataset {
  const attributes = study.patientAttributes ?? {};
  return Object.fromEntries(['00100024', '00101000', '00101002'].filter((tag) => attributes[tag]?.Value?.length).map((tag) => [tag, attributes[tag]!]));
}

/** The SR as a Part 10 file (explicit VR little endian, UTF-8 text under ISO_IR 192). */
export function writeReportSr(dataset: DicomJsonDataset): Buffer {
  const sopInstanceUid = String(dataset['00080018']!.Value![0]);
  const dictionary = new dcmjs.data.DicomDict({
    '00020001': { vr: 'OB', Value: [new Uint8Array([0, 1]).buffer] },
    '00020002': ui(ENHANCED_SR_SOP_CLASS_UID),
    '00020003': ui(sopInstanceUid),
    '00020010': ui(EXPLICIT_VR_LITTLE_ENDIAN),
    '00020012': ui(IMPLEMENTATION_CLASS_UID),
    '00020013': { vr: 'SH', Value: [IMPLEMENTATION_VERSION_NAME] },
  });
  dictionary.dict = dataset as Record<string, { vr: string; Value: unknown[] }>;
  return Buffer.from(dictionary.write());
}

/** A PN text with its groups ('Li^Ming=李^明') as DICOM JSON. */
function personName(text: string): DicomJsonPersonName {
  const [alphabetic, ideographic, phonetic] = text.split('=');
  return { ...(alphabetic ? { Alphabetic: alphabetic } : {}), ...(ideographic ? { Ideographic: ideographic } : {}), ...(phonetic ? { Phonetic: phonetic } : {}) };
}

/** Verifying Observer Sequence item: who verified, for which organisation, when, and their licence as the identifying code. */
function verifyingObserver(signature: ReportSignature): DicomJsonDataset {
  return {
    '0040A027': { vr: 'LO', Value: [signature.institution] },
    '0040A030': { vr: 'DT', Value: [`${dicomDateTime(signature.signedAt).date}${dicomDateTime(signature.signedAt).time}+0000`] },
    '0040A075': { vr: 'PN', Value: [personName(signature.name)] },
    // Type 2: empty when the verifier has no licence number on record.
    '0040A088': { vr: 'SQ', Value: signature.licence ? [codeItem({ value: signature.licence, scheme: '99PRCLICENCE', meaning: `执业证号 Licence ${signature.licence}`.slice(0, 64) })] : [] },
  };
}

function section(heading: Code, element: Code, text: string): DicomJsonDataset {
  return {
    [TAGS.relationshipType]: cs('CONTAINS'),
    [TAGS.valueType]: cs('CONTAINER'),
    [TAGS.conceptNameCodeSequence]: codeSequence(heading),
    [TAGS.continuityOfContent]: cs('SEPARATE'),
    [TAGS.contentSequence]: {
      vr: 'SQ',
      // An empty field is stated as such: TID 2000 has no empty section, and a TEXT item needs text.
      Value: [{ [TAGS.relationshipType]: cs('CONTAINS'), [TAGS.valueType]: cs('TEXT'), [TAGS.conceptNameCodeSequence]: codeSequence(element), [TAGS.textValue]: { vr: 'UT', Value: [text.trim() || '—'] } }],
    },
  };
}

function codeItem(code: Code): DicomJsonDataset {
  // Code Value is SH (16 characters); a longer one (a licence number) goes in Long Code Value (PS3.3 8.8).
  const value: DicomJsonDataset = code.value.length > 16 ? { '00080119': { vr: 'UC', Value: [code.value] } } : { [TAGS.codeValue]: { vr: 'SH', Value: [code.value] } };
  return { ...value, [TAGS.codingSchemeDesignator]: { vr: 'SH', Value: [code.scheme] }, [TAGS.codeMeaning]: { vr: 'LO', Value: [code.meaning] } };
}

function codeSequence(code: Code) {
  return { vr: 'SQ', Value: [codeItem(code)] };
}

function cs(value: string) {
  return { vr: 'CS', Value: [value] };
}
function ui(value: string) {
  return { vr: 'UI', Value: [value] };
}
function da(value: string) {
  return { vr: 'DA', Value: [value] };
}
function tm(value: string) {
  return { vr: 'TM', Value: [value] };
}
/**
 * A type 2 attribute the study did not have (no Accession Number, no Study ID), present and empty.
 * The empty Value matters: dcmjs writes an element without one only for some VRs and fails on SH and
 * LO, which left a study without an accession number with neither SR nor PDF.
 */
export function emptyElement(vr: string): { vr: string; Value: [] } {
  return { vr, Value: [] };
}

/** An ISO 8601 instant as DICOM DA and TM in UTC (the SR says +0000 in Timezone Offset From UTC). */
function dicomDateTime(iso: string): { date: string; time: string } {
  const compact = new Date(iso).toISOString().replace(/[-:]/g, '');
  return { date: compact.slice(0, 8), time: compact.slice(9, 15) };
}
