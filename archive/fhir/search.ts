import { parseQidoQuery, type Condition, type QidoQuery } from '../query/qido-query.ts';
import { SYSTEM, type DiagnosticReportStatus } from './resources.ts';

/**
 * FHIR R4 search parameters (http://hl7.org/fhir/R4/search.html) read into typed criteria, and the
 * index query they become. Pure: which studies a caller may see is added by the repository, from
 * the same Visibility as QIDO-RS. Token values match exactly (FHIR has no wildcards), so they go
 * into the query as equality conditions, never through QIDO's wildcard syntax.
 */
export class FhirSearchError extends Error {}

/** A patient identifier as a FHIR token: Yingyun's patients are (Issuer of Patient ID, Patient ID). */
export interface PatientIdentifierCriterion {
  /** undefined: any issuer (the tokens `value` and `|value`: Yingyun keeps an issuer for every patient). */
  issuer?: string;
  value: string;
}

/** Inclusive, as 'YYYY-MM-DD'; either bound may be open. */
export interface DateRange {
  from?: string;
  to?: string;
}

export interface ImagingStudySearch {
  patient?: PatientIdentifierCriterion;
  studyUids?: string[];
  started?: DateRange;
  modalities?: string[];
  count: number;
}

export interface DiagnosticReportSearch {
  patient?: PatientIdentifierCriterion;
  studyUids?: string[];
  date?: DateRange;
  statuses?: DiagnosticReportStatus[];
  count: number;
}

export const DEFAULT_COUNT = 50;
export const MAX_COUNT = 200;

/** Parameters every search takes: the result format (JSON only) and the page size. */
const COMMON = new Set(['_format', '_count']);
const IMAGING_STUDY_PARAMETERS = new Set([...COMMON, '_id', 'identifier', 'patient.identifier', 'started', 'modality']);
const DIAGNOSTIC_REPORT_PARAMETERS = new Set([...COMMON, '_id', 'patient.identifier', 'study', 'date', 'status']);

type Parameters = Record<string, string | string[] | undefined>;

export function parseImagingStudySearch(parameters: Parameters): ImagingStudySearch {
  checkNames(parameters, IMAGING_STUDY_PARAMETERS);
  const ids = [...values(parameters, '_id'), ...values(parameters, 'identifier').map(studyUidOfIdentifier)];
  const modalities = values(parameters, 'modality').map((token) => tokenCode(token, SYSTEM.dicom, 'modality'));
  return {
    ...(values(parameters, 'patient.identifier').length ? { patient: patientIdentifier(single(parameters, 'patient.identifier')) } : {}),
    ...(ids.length ? { studyUids: ids.map((id) => uid(id)) } : {}),
    ...(values(parameters, 'started').length ? { started: dateRange(values(parameters, 'started'), 'started') } : {}),
    ...(modalities.length ? { modalities } : {}),
    count: count(parameters),
  };
}

export function parseDiagnosticReportSearch(parameters: Parameters): DiagnosticReportSearch {
  checkNames(parameters, DIAGNOSTIC_REPORT_PARAMETERS);
  const studyUids = values(parameters, 'study').map((reference) => uid(reference.replace(/^ImagingStudy\//, '')));
  const statuses = values(parameters, 'status').map((status) => {
    if (!['preliminary', 'final', 'amended', 'corrected'].includes(status)) throw new FhirSearchError(`status ${JSON.stringify(status)} is not one a report here can have (preliminary, final, amended, corrected)`);
    return status as DiagnosticReportStatus;
  });
  return {
    ...(values(parameters, 'patient.identifier').length ? { patient: patientIdentifier(single(parameters, 'patient.identifier')) } : {}),
    ...(studyUids.length ? { studyUids } : {}),
    ...(values(parameters, 'date').length ? { date: dateRange(values(parameters, 'date'), 'date') } : {}),
    ...(statuses.length ? { statuses } : {}),
    count: count(parameters),
  };
}

/** The study-level index query an ImagingStudy search is. */
export function imagingStudyQuery(search: Pick<ImagingStudySearch, 'patient' | 'studyUids' | 'started' | 'modalities'>, count: number): QidoQuery {
  const base = parseQidoQuery('study', { limit: String(count) });
  const conditions: Condition[] = [...patientConditions(search.patient)];
  if (search.studyUids) conditions.push({ tag: '0020000D', match: search.studyUids.length === 1 ? { kind: 'equals', value: search.studyUids[0]! } : { kind: 'any-of', values: search.studyUids } });
  if (search.started) conditions.push({ tag: '00080020', match: { kind: 'date-range', ...search.started } });
  if (search.modalities) conditions.push({ tag: '00080061', match: { kind: 'contains-any', patterns: search.modalities } });
  return { ...base, conditions };
}

function patientConditions(patient: PatientIdentifierCriterion | undefined): Condition[] {
  if (!patient) return [];
  const conditions: Condition[] = [{ tag: '00100020', match: { kind: 'equals', value: patient.value } }];
  if (patient.issuer !== undefined) conditions.push({ tag: '00100021', match: { kind: 'equals', value: patient.issuer } });
  return conditions;
}

/**
 * The identifier system a patient's issuer is written as, and back: an OID issuer as urn:oid:…,
 * any other as urn:yingyun:issuer:<issuer> (percent-encoded), none as no system.
 */
export function patientIdentifierSystem(issuer: string | null | undefined): string | undefined {
  if (!issuer) return undefined;
  return /^[0-2](\.(0|[1-9][0-9]*))+$/.test(issuer) ? `urn:oid:${issuer}` : `urn:yingyun:issuer:${encodeURIComponent(issuer)}`;
}

function issuerOfSystem(system: string): string {
  if (system.startsWith('urn:oid:')) return system.slice('urn:oid:'.length);
  if (system.startsWith('urn:yingyun:issuer:')) {
    try {
      return decodeURIComponent(system.slice('urn:yingyun:issuer:'.length));
    } catch {
      throw new FhirSearchError(`the identifier system ${JSON.stringify(system)} is malformed`);
    }
  }
  throw new FhirSearchError(`patient identifiers here have the system urn:oid:<issuer OID> or urn:yingyun:issuer:<issuer>, not ${JSON.stringify(system)}`);
}

function patientIdentifier(token: string): PatientIdentifierCriterion {
  const bar = token.indexOf('|');
  const value = bar === -1 ? token : token.slice(bar + 1);
  if (value === '') throw new FhirSearchError('patient.identifier needs a value');
  return bar <= 0 ? { value } : { issuer: issuerOfSystem(token.slice(0, bar)), value };
}

/** `identifier=urn:dicom:uid|urn:oid:1.2.3` (or without the system): the Study Instance UID. */
function studyUidOfIdentifier(token: string): string {
  const bar = token.indexOf('|');
  const system = bar === -1 ? undefined : token.slice(0, bar);
  const value = bar === -1 ? token : token.slice(bar + 1);
  if (system !== undefined && system !== SYSTEM.dicomUid) throw new FhirSearchError(`ImagingStudy identifiers here have the system ${SYSTEM.dicomUid}, not ${JSON.stringify(system)}`);
  if (!value.startsWith('urn:oid:')) throw new FhirSearchError(`a Study Instance UID identifier is written urn:oid:<uid>, not ${JSON.stringify(value)}`);
  return value.slice('urn:oid:'.length);
}

function tokenCode(token: string, expectedSystem: string, name: string): string {
  const bar = token.indexOf('|');
  if (bar !== -1 && token.slice(0, bar) !== '' && token.slice(0, bar) !== expectedSystem) throw new FhirSearchError(`${name} codes here have the system ${expectedSystem}`);
  const code = bar === -1 ? token : token.slice(bar + 1);
  if (!/^[A-Z0-9_]{1,16}$/.test(code)) throw new FhirSearchError(`${JSON.stringify(code)} is not a DICOM ${name} code`);
  return code;
}

function uid(value: string): string {
  if (value.length > 64 || !/^[0-9]+(\.[0-9]+)*$/.test(value)) throw new FhirSearchError(`${JSON.stringify(value)} is not a DICOM UID`);
  return value;
}

/**
 * FHIR date parameters (eq, ge, le, gt, lt; precision year, month or day), each narrowing the
 * range: `started=ge2026-01-01&started=lt2026-02` is January 2026.
 */
export function dateRange(parameters: string[], name: string): DateRange {
  let range: DateRange = {};
  for (const parameter of parameters) {
    const match = /^(eq|ge|le|gt|lt)?(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/.exec(parameter);
    if (!match) throw new FhirSearchError(`${name} takes a date (YYYY, YYYY-MM or YYYY-MM-DD) with an optional prefix eq, ge, le, gt or lt, not ${JSON.stringify(parameter)}`);
    const [, prefix = 'eq', year, month, day] = match;
    const first = new Date(Date.UTC(Number(year), month ? Number(month) - 1 : 0, day ? Number(day) : 1));
    const last = new Date(Date.UTC(Number(year) + (month ? 0 : 1), month ? Number(month) - (day ? 1 : 0) : 0, day ? Number(day) : 0));
    if (month && first.getUTCMonth() !== Number(month) - 1) throw new FhirSearchError(`${parameter} is not a date`);
    if (day && first.getUTCDate() !== Number(day)) throw new FhirSearchError(`${parameter} is not a date`);
    const dayBefore = new Date(first.getTime() - 86_400_000);
    const dayAfter = new Date(last.getTime() + 86_400_000);
    const bounds: DateRange = { eq: { from: iso(first), to: iso(last) }, ge: { from: iso(first) }, gt: { from: iso(dayAfter) }, le: { to: iso(last) }, lt: { to: iso(dayBefore) } }[prefix as 'eq']!;
    range = {
      ...(bounds.from !== undefined || range.from !== undefined ? { from: [bounds.from, range.from].filter((bound) => bound !== undefined).sort().at(-1) } : {}),
      ...(bounds.to !== undefined || range.to !== undefined ? { to: [bounds.to, range.to].filter((bound) => bound !== undefined).sort()[0] } : {}),
    };
  }
  return range;
}

function iso(date: Date): string {
  return date.toISOString().slice(0, 10);
}

function checkNames(parameters: Parameters, allowed: ReadonlySet<string>): void {
  // Strict handling: an unknown parameter is refused rather than ignored, so that a misspelt
  // criterion never silently returns everything the caller may see.
  for (const name of Object.keys(parameters)) {
    if (!allowed.has(name)) throw new FhirSearchError(`the search parameter ${JSON.stringify(name)} is not supported here (supported: ${[...allowed].join(', ')})`);
  }
  for (const format of values(parameters, '_format')) {
    if (!['json', 'application/json', 'application/fhir+json'].includes(format)) throw new FhirSearchError('resources are available as application/fhir+json only');
  }
}

function values(parameters: Parameters, name: string): string[] {
  const value = parameters[name];
  // A comma is OR within one parameter (FHIR search 3.1.1.3); an escaped comma ('\,') does not occur in the values taken here.
  return (value === undefined ? [] : Array.isArray(value) ? value : [value]).flatMap((item) => (name === 'started' || name === 'date' ? [item] : item.split(','))).map((item) => item.trim()).filter((item) => item !== '');
}

function single(parameters: Parameters, name: string): string {
  const found = values(parameters, name);
  if (found.length !== 1) throw new FhirSearchError(`${name} takes one value`);
  return found[0]!;
}

function count(parameters: Parameters): number {
  const value = parameters._count;
  if (value === undefined) return DEFAULT_COUNT;
  if (typeof value !== 'string' || !/^\d{1,4}$/.test(value) || Number(value) === 0) throw new FhirSearchError('_count takes a whole number from 1');
  return Math.min(Number(value), MAX_COUNT);
}
