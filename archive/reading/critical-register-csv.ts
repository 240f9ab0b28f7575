import { CSV_UTF8_BOM, csvField } from '../audit/export-csv.ts';
import type { CriticalNotice } from './critical-finding-wire.ts';

/** The register's columns, each headed in Chinese and English: 医务科 files it, auditors read it. */
const COLUMNS = [
  '登记号 Notice',
  '上报时间 Raised at',
  '送检医院 Hospital',
  '患者ID Patient ID',
  '患者姓名 Patient name',
  '检查UID Study UID',
  '危急值类别 Category',
  'Category',
  '危急值内容 Finding',
  '报告医师 Raised by',
  '报告机构 Raised by (centre)',
  '步骤 Step',
  '步骤时间 Step at',
  '执行人 By',
  '通知对象 To',
  '复述内容 Read-back / detail',
] as const;

const LINE_END = '\r\n';

/**
 * The 危急值登记本 as CSV: one row per step of every notice (raised, notified, webhook, escalated,
 * acknowledged), so who did what and when reads down the page. Starts with a UTF-8 BOM so that
 * Excel and WPS show the Chinese text.
 */
export function criticalRegisterCsv(notices: readonly CriticalNotice[]): string {
  const lines = [CSV_UTF8_BOM + COLUMNS.join(',') + LINE_END];
  for (const notice of [...notices].reverse()) {
    for (const step of notice.steps) {
      const detail = step.step === 'acknowledged' ? String(step.detail.readBack ?? '') : Object.keys(step.detail).length ? JSON.stringify(step.detail) : '';
      const values = [
        notice.id,
        notice.raisedAt,
        notice.institutionName,
        notice.patientId,
        notice.patientName ?? '',
        notice.studyInstanceUid,
        notice.category.nameZh,
        notice.category.nameEn,
        notice.text,
        notice.raisedBy,
        notice.raisingInstitutionName ?? '',
        step.step,
        step.occurredAt,
        step.actor,
        step.recipients,
        detail,
      ];
      lines.push(values.map(csvField).join(',') + LINE_END);
    }
  }
  return lines.join('');
}
