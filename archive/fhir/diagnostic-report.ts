import type { DicomJsonDataset } from '../dicom/types.ts';
import type { Report, ReportSignature, ReportVersion } from '../reading/report.ts';
import { dateTime, patientReference, text } from './imaging-study.ts';
import { SYSTEM, type DiagnosticReport } from './resources.ts';

/** The study a report is about, as the index holds it: enough for the report's subject and effective time. */
export interface ReportedStudy {
  patientAttributes: DicomJsonDataset;
  studyAttributes: DicomJsonDataset;
}

/**
 * A report as an R4 DiagnosticReport (http://hl7.org/fhir/R4/diagnosticreport.html), as its newest
 * signed version stands (or, for a vread, as an earlier one stood): preliminary after the 初诊, final after the 审核, amended after an
 * amendment (every amendment here corrects a final report and is kept as a new version, so
 * 'corrected' is not used). The conclusion is the impression (诊断意见); the findings (检查所见) are
 * in the presented forms: the signed PDF and the text itself.
 */
export function diagnosticReport(report: Report, study: ReportedStudy, urls: { gateway: string }, version: ReportVersion | undefined = report.versions.at(-1)): DiagnosticReport {
  if (!version) throw new Error(`report ${report.id} has no signed version`);
  const interpreters = signersOf(version);
  const language = /[\u3400-\u9fff]/.test(`${version.content.findings}${version.content.impression}`) ? 'zh-CN' : 'en';
  const effective = dateTime(text(study.studyAttributes, '00080020'), text(study.studyAttributes, '00080030'), text(study.studyAttributes, '00080201'));
  const reportText = `检查所见 Findings:\n${version.content.findings}\n\n诊断意见 Impression:\n${version.content.impression}${
    version.content.criticalFinding ? `\n\n危急值 Critical finding: ${version.content.criticalFinding.category}: ${version.content.criticalFinding.text}` : ''
  }${version.amendmentReason ? `\n\n更正原因 Reason for amendment: ${version.amendmentReason}` : ''}`;
  return {
    resourceType: 'DiagnosticReport',
    id: report.id,
    meta: { versionId: String(version.version), lastUpdated: version.createdAt },
    // The SR of this version is the report's DICOM identity (urn:dicom:uid, as for the study).
    identifier: [{ system: SYSTEM.dicomUid, value: `urn:oid:${version.srSopInstanceUid}` }],
    // The version chain's statuses are FHIR's own: preliminary, final, amended.
    status: version.status,
    category: [{ coding: [{ system: SYSTEM.diagnosticServiceSection, code: 'RAD', display: 'Radiology' }] }],
    code: { coding: [{ system: SYSTEM.loinc, code: '18748-4', display: 'Diagnostic imaging study' }], text: '影像诊断报告 Diagnostic imaging report' },
    subject: patientReference(study.patientAttributes),
    ...(effective ? { effectiveDateTime: effective } : {}),
    issued: version.createdAt,
    performer: [...new Set(version.signatures.map((signature) => signature.institution))].map((institution) => ({ display: institution })),
    resultsInterpreter: interpreters,
    imagingStudy: [{ reference: `ImagingStudy/${report.studyInstanceUid}`, identifier: { system: SYSTEM.dicomUid, value: `urn:oid:${report.studyInstanceUid}` } }],
    ...(version.content.impression.trim() ? { conclusion: version.content.impression } : {}),
    presentedForm: [
      { contentType: 'application/pdf', language, url: reportPdfUrl(urls.gateway, report.studyInstanceUid, version.version), title: `report-${report.id}-v${version.version}.pdf`, creation: version.createdAt },
      { contentType: 'text/plain; charset=utf-8', language, data: Buffer.from(reportText, 'utf8').toString('base64'), creation: version.createdAt },
    ],
  };
}

/** Where the signed PDF of a version is downloaded (gateway/http/api/report-pdf-routes.ts). */
export function reportPdfUrl(gatewayBase: string, studyInstanceUid: string, version: number): string {
  return `${gatewayBase}/api/studies/${studyInstanceUid}/report/pdf?version=${version}`;
}

function signersOf(version: ReportVersion): { display: string }[] {
  return version.signatures.map((signature) => ({ display: signerText(signature) }));
}

/** '初诊 李明 主治医师' — role, name (the Chinese group when there is one), title. */
function signerText(signature: ReportSignature): string {
  const [alphabetic, ideographic] = signature.name.split('=');
  const name = ideographic ? ideographic.replace(/\^/g, '') : (alphabetic ?? '').replace(/\^/g, ' ');
  return [signature.role === 'preliminary' ? '初诊 Preliminary' : '审核 Final', name.trim(), signature.title ?? ''].filter(Boolean).join(' ');
}
