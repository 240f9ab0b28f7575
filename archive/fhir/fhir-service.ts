import type { Visibility } from '../access/policy.ts';
import { auditPatientId } from '../audit/audit-event.ts';
import type { DicomJsonDataset } from '../dicom/types.ts';
import type { FhirRepository } from '../db/fhir-repository.ts';
import type { QueryRepository, InstanceRow } from '../db/query-repository.ts';
import type { ReportService } from '../reading/report-service.ts';
import type { RecognitionService } from '../recognition/recognition-service.ts';
import { MAX_RESULTS, parseQidoQuery } from '../query/qido-query.ts';
import { diagnosticReport } from './diagnostic-report.ts';
import { imagingStudy, text } from './imaging-study.ts';
import { imagingStudyQuery, type DiagnosticReportSearch, type ImagingStudySearch } from './search.ts';
import type { Bundle, DiagnosticReport, ImagingStudy, Resource } from './resources.ts';

/** Where the resources point: the gateway, its FHIR base and its DICOMweb base (from YINGYUN_PUBLIC_URL or the connection). */
export interface FhirUrls {
  gateway: string;
  fhir: string;
  dicomWeb: string;
  /** The request as made, for the searchset's self link. */
  self: string;
}

/** What a FHIR answer was about, for its audit event: the studies, and the patient when there was one. */
export interface FhirAudited {
  studyUids: string[];
  patientId?: string;
}

/**
 * FHIR R4 read access to the archive (ImagingStudy) and to signed reports (DiagnosticReport), for
 * HIS and regional platforms. Every answer comes from the index under the caller's Visibility, the
 * same scope as QIDO-RS: a study or report the caller may not see is not found.
 */
export class FhirService {
  constructor(private readonly deps: { studies: QueryRepository; fhir: FhirRepository; reports: Pick<ReportService, 'report'>; recognition: Pick<RecognitionService, 'marks'> }) {}

  async searchImagingStudies(search: ImagingStudySearch, visibility: Visibility, urls: FhirUrls): Promise<{ bundle: Bundle<ImagingStudy>; audited: FhirAudited }> {
    const found = await this.deps.studies.searchStudies(imagingStudyQuery(search, search.count), visibility);
    // Searchset entries carry their series; the instances come with a read of the study itself.
    const marks = await this.deps.recognition.marks(found.rows.map((study) => study.studyInstanceUid));
    const resources = await Promise.all(
      found.rows.map(async (study) => imagingStudy(study, await this.seriesOf(study.studyInstanceUid, visibility), undefined, urls.dicomWeb, marks.get(study.studyInstanceUid))),
    );
    const total = found.remaining.atLeast ? undefined : found.rows.length + found.remaining.count;
    return { bundle: searchset(resources, urls, total), audited: auditedOf(found.rows) };
  }

  async readImagingStudy(studyInstanceUid: string, visibility: Visibility, urls: FhirUrls): Promise<{ resource: ImagingStudy; audited: FhirAudited } | null> {
    const found = await this.deps.studies.searchStudies(imagingStudyQuery({ studyUids: [studyInstanceUid] }, 1), visibility);
    const study = found.rows[0];
    if (!study) return null;
    const instances: InstanceRow[] = [];
    for (let offset = 0; ; offset += MAX_RESULTS) {
      const page = await this.deps.studies.searchInstances({ ...parseQidoQuery('instance', {}, { studyInstanceUid }), limit: MAX_RESULTS, offset }, visibility);
      instances.push(...page.rows);
      if (page.remaining.count === 0) break;
    }
    const marks = await this.deps.recognition.marks([studyInstanceUid]);
    return { resource: imagingStudy(study, await this.seriesOf(studyInstanceUid, visibility), instances, urls.dicomWeb, marks.get(studyInstanceUid)), audited: auditedOf([study]) };
  }

  async searchDiagnosticReports(search: DiagnosticReportSearch, visibility: Visibility, urls: FhirUrls): Promise<{ bundle: Bundle<DiagnosticReport>; audited: FhirAudited }> {
    const studies = imagingStudyQuery({ patient: search.patient, studyUids: search.studyUids, started: search.date }, 1);
    const rows = await this.deps.fhir.signedReports(studies, search.statuses, visibility, search.count + 1);
    const shown = rows.slice(0, search.count);
    const resources: DiagnosticReport[] = [];
    for (const row of shown) {
      const report = await this.deps.reports.report(row.reportId);
      if (report?.versions.length) resources.push(diagnosticReport(report, row, urls));
    }
    return {
      bundle: searchset(resources, urls, rows.length > search.count ? undefined : resources.length),
      audited: auditedOf(shown),
    };
  }

  /** The report as it stands, or as version `versionId` stood (vread): every signed version stays readable. */
  async readDiagnosticReport(reportId: string, visibility: Visibility, urls: FhirUrls, versionId?: string): Promise<{ resource: DiagnosticReport; audited: FhirAudited } | null> {
    if (!/^[1-9][0-9]{0,17}$/.test(reportId)) return null;
    const report = await this.deps.reports.report(reportId);
    const version = versionId === undefined ? report?.versions.at(-1) : report?.versions.find((candidate) => String(candidate.version) === versionId);
    if (!report || !version) return null;
    const found = await this.deps.studies.searchStudies(imagingStudyQuery({ studyUids: [report.studyInstanceUid] }, 1), visibility);
    const study = found.rows[0];
    if (!study) return null;
    return { resource: diagnosticReport(report, study, urls, version), audited: auditedOf([study]) };
  }

  private async seriesOf(studyInstanceUid: string, visibility: Visibility) {
    const found = await this.deps.studies.searchSeries({ ...parseQidoQuery('series', {}, { studyInstanceUid }), limit: MAX_RESULTS }, visibility);
    return found.rows;
  }
}

function searchset<R extends Resource>(resources: R[], urls: FhirUrls, total: number | undefined): Bundle<R> {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    ...(total !== undefined ? { total } : {}),
    link: [{ relation: 'self', url: urls.self }],
    entry: resources.map((resource) => ({ fullUrl: `${urls.fhir}/${resource.resourceType}/${resource.id}`, resource, search: { mode: 'match' } })),
  };
}

function auditedOf(studies: { studyInstanceUid: string; patientAttributes: DicomJsonDataset }[]): FhirAudited {
  const patients = new Set(studies.map((study) => auditPatientId(text(study.patientAttributes, '00100021'), text(study.patientAttributes, '00100020') ?? '')));
  return { studyUids: [...new Set(studies.map((study) => study.studyInstanceUid))], ...(patients.size === 1 ? { patientId: [...patients][0]! } : {}) };
}
