import type { AuditEventRecord } from './audit-event.ts';

/**
 * Excel and WPS read a CSV file as GBK (or the system code page) unless it starts with a UTF-8 byte
 * order mark, which would turn every Chinese name into mojibake. The caller writes this once, before
 * the header.
 */
export const CSV_UTF8_BOM = '\uFEFF';

const COLUMNS = [
  'id',
  'occurred_at',
  'event_type',
  'action',
  'outcome',
  'user_name',
  'user_role',
  'institution_id',
  'source_address',
  'patient_id',
  'patient_name',
  'study_uids',
  'purpose',
  'detail',
  'hash',
] as const;

/** RFC 4180 records end in CRLF; each line carries its own, so lines can be streamed one by one. */
const LINE_END = '\r\n';

export function auditCsvHeader(): string {
  return COLUMNS.join(',') + LINE_END;
}

export function auditEventToCsvRow(event: AuditEventRecord): string {
  const values: Record<(typeof COLUMNS)[number], string | null> = {
    id: event.id,
    occurred_at: event.occurredAt.toISOString(),
    event_type: event.eventType,
    action: event.action,
    outcome: String(event.outcome),
    user_name: event.userName,
    user_role: event.userRole,
    institution_id: event.institutionId,
    source_address: event.sourceAddress,
    patient_id: event.patientId,
    patient_name: event.patientName,
    study_uids: event.studyUids.join(';'),
    purpose: event.purpose,
    detail: JSON.stringify(event.detail),
    hash: event.hash,
  };
  return COLUMNS.map((column) => csvField(values[column] ?? '')).join(',') + LINE_END;
}

/**
 * Much of a row is typed by people we do not trust (a user name tried at the login form, a patient
 * name from a modality), and auditors open the file in a spreadsheet: a cell that starts with one of
 * these is taken as a formula (=HYPERLINK(...) leaks data, DDE runs commands). A leading apostrophe
 * makes the spreadsheet show the text as text; the apostrophe itself is not displayed.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

export function csvField(value: string): string {
  const text = FORMULA_START.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
