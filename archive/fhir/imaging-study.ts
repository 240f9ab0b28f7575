import type { InstanceRow, SeriesRow, StudyRow } from '../db/query-repository.ts';
import { personNameText } from '../dicom/normalize.ts';
import type { DicomJsonDataset, DicomJsonPersonName } from '../dicom/types.ts';
import { message } from '../i18n/messages.ts';
import type { HrMarkResult } from '../recognition/hr-mark.ts';
import { patientIdentifierSystem } from './search.ts';
import { SYSTEM, type Endpoint, type Extension, type ImagingStudy, type ImagingStudySeries, type Reference } from './resources.ts';

/**
 * A study of the index as an R4 ImagingStudy (http://hl7.org/fhir/R4/imagingstudy.html): its id is
 * the Study Instance UID (a UID fits FHIR's id type), also given as the identifier urn:dicom:uid /
 * urn:oid:<uid> as the resource's own mapping asks; the images themselves are one contained
 * DICOMweb Endpoint away.
 */
export function imagingStudy(
  study: StudyRow,
  series: readonly SeriesRow[],
  instances: readonly InstanceRow[] | undefined,
  dicomWebBase: string,
  hrMark?: HrMarkResult,
): ImagingStudy {
  const attributes = study.studyAttributes;
  const accession = text(attributes, '00080050');
  const referrer = personName(attributes, '00080090');
  const description = text(attributes, '00081030');
  const started = dateTime(text(attributes, '00080020'), text(attributes, '00080030'), text(attributes, '00080201'));
  const endpoint: Endpoint = {
    resourceType: 'Endpoint',
    id: 'dicomweb',
    status: 'active',
    connectionType: { system: SYSTEM.endpointConnectionType, code: 'dicom-wado-rs' },
    payloadType: [{ text: 'DICOM' }],
    payloadMimeType: ['application/dicom'],
    address: dicomWebBase,
  };
  return {
    resourceType: 'ImagingStudy',
    id: study.studyInstanceUid,
    ...(hrMark ? { extension: [hrMarkExtension(hrMark)] } : {}),
    contained: [endpoint],
    identifier: [
      { system: SYSTEM.dicomUid, value: `urn:oid:${study.studyInstanceUid}` },
      ...(accession ? [{ type: { coding: [{ system: SYSTEM.identifierType, code: 'ACSN' }] }, value: accession }] : []),
    ],
    status: 'available',
    ...(study.modalities.length ? { modality: study.modalities.map((code) => ({ system: SYSTEM.dicom, code })) } : {}),
    subject: patientReference(study.patientAttributes),
    ...(started ? { started } : {}),
    ...(referrer ? { referrer: { display: referrer } } : {}),
    endpoint: [{ reference: '#dicomweb' }],
    numberOfSeries: study.numberOfSeries,
    numberOfInstances: study.numberOfInstances,
    ...(description ? { description } : {}),
    ...(series.length ? { series: series.map((one) => seriesOf(one, instances?.filter((instance) => instance.seriesInstanceUid === one.seriesInstanceUid))) } : {}),
  };
}

/**
 * The HR mark (互认标识) as a complex extension: `carries` always; with the mark its `text` (渝HR),
 * `item` and `validUntil`; without it one `absenceReason` per failed condition (the codes of
 * docs/recognition.md, "The HR mark").
 */
export function hrMarkExtension(mark: HrMarkResult): Extension {
  const parts: Extension[] = mark.carries
    ? [{ url: 'text', valueString: mark.text }, { url: 'item', valueCode: mark.itemCode }, { url: 'validUntil', valueDate: mark.validUntil }]
    : mark.reasons.map((reason) => ({ url: 'absenceReason', valueCode: reason.code }));
  return { url: SYSTEM.hrMarkExtension, extension: [{ url: 'carries', valueBoolean: mark.carries }, ...parts] };
}

/** The patient as a logical reference (Yingyun serves no Patient resource): their identifier and name. */
export function patientReference(patient: DicomJsonDataset): Reference {
  const system = patientIdentifierSystem(text(patient, '00100021'));
  const value = text(patient, '00100020');
  const name = personName(patient, '00100010');
  // FHIR allows no empty values: a study sent without Patient ID or name still names someone.
  if (!value && !name) return { display: `${message('fhir.unidentifiedPatient', 'zh')} ${message('fhir.unidentifiedPatient', 'en')}` };
  return {
    ...(value ? { identifier: { ...(system ? { system } : {}), value } } : {}),
    ...(name ? { display: name } : {}),
  };
}

function seriesOf(series: SeriesRow, instances: readonly InstanceRow[] | undefined): ImagingStudySeries {
  const attributes = series.seriesAttributes;
  const number = integer(attributes, '00200011');
  const description = text(attributes, '0008103E');
  const bodyPart = text(attributes, '00180015');
  const started = dateTime(text(attributes, '00400244'), text(attributes, '00400245'), text(series.studyAttributes, '00080201'));
  return {
    uid: series.seriesInstanceUid,
    ...(number !== undefined ? { number } : {}),
    modality: { system: SYSTEM.dicom, code: text(attributes, '00080060') ?? 'OT' },
    ...(description ? { description } : {}),
    numberOfInstances: series.numberOfSeriesInstances,
    // Body Part Examined is a DICOM defined term, not yet a SNOMED code: given as the text it is.
    ...(bodyPart ? { bodySite: { display: bodyPart } } : {}),
    ...(started ? { started } : {}),
    ...(instances?.length
      ? {
          instance: instances.map((instance) => {
            const instanceNumber = integer(instance.instanceAttributes, '00200013');
            return {
              uid: instance.sopInstanceUid,
              sopClass: { system: SYSTEM.uri, code: `urn:oid:${text(instance.instanceAttributes, '00080016') ?? ''}` },
              ...(instanceNumber !== undefined ? { number: instanceNumber } : {}),
            };
          }),
        }
      : {}),
  };
}

/**
 * A DICOM date (and time, and offset from UTC) as a FHIR dateTime. FHIR requires a time zone with
 * a time; a study that does not state its offset is given by its date alone rather than with a
 * guessed zone.
 */
export function dateTime(date: string | undefined, time: string | undefined, offset: string | undefined): string | undefined {
  const day = /^(\d{4})(\d{2})(\d{2})$/.exec(date ?? '');
  if (!day) return undefined;
  const isoDay = `${day[1]}-${day[2]}-${day[3]}`;
  const clock = /^(\d{2})(\d{2})?(\d{2})?/.exec(time ?? '');
  const zone = /^([+-])(\d{2})(\d{2})$/.exec(offset ?? '');
  if (!clock || !zone) return isoDay;
  return `${isoDay}T${clock[1]}:${clock[2] ?? '00'}:${clock[3] ?? '00'}${zone[1]}${zone[2]}:${zone[3]}`;
}

export function text(dataset: DicomJsonDataset | undefined, tag: string): string | undefined {
  const value = dataset?.[tag]?.Value?.[0];
  if (typeof value === 'string' && value.trim() !== '') return value.trim();
  if (typeof value === 'number') return String(value);
  return undefined;
}

function integer(dataset: DicomJsonDataset, tag: string): number | undefined {
  const value = Number(text(dataset, tag));
  return Number.isInteger(value) && value >= 0 ? value : undefined;
}

/** A name for display: the Ideographic group (汉字) when there is one, else the alphabetic, with ^ as spaces. */
export function personName(dataset: DicomJsonDataset | undefined, tag: string): string | undefined {
  const value = dataset?.[tag]?.Value?.[0] as DicomJsonPersonName | undefined;
  if (!value || typeof value !== 'object') return undefined;
  // Chinese names are written without a space between family and given name; alphabetic ones with one.
  const shown = value.Ideographic ? value.Ideographic.replace(/\^+/g, '').trim() : (value.Alphabetic ?? personNameText(value)).replace(/\^+/g, ' ').trim();
  return shown || undefined;
}
