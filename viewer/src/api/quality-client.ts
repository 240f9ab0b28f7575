import type { StoredReportQcGrade } from '../../../archive/db/qc-worklist-repository.ts';
import type { StoredQcGrade } from '../../../archive/db/quality-repository.ts';
import type { ReportQuality } from '../../../archive/quality/qc-worklist-service.ts';
import type { CentreQcConfiguration, GradeRequest, QcCatalogue, StudyQuality } from '../../../archive/quality/quality-service.ts';
import type { Connection } from './http.ts';

/** A stored grade as JSON carries it: its times are ISO strings. */
export type QcGradeOnWire = Omit<StoredQcGrade, 'gradedAt' | 'rejectionKos'> & {
  gradedAt: string;
  rejectionKos: { seriesInstanceUid: string; sopInstanceUid: string; storedAt: string | null } | null;
};

export type StudyQualityOnWire = Omit<StudyQuality, 'current' | 'history'> & { current: QcGradeOnWire[]; history: QcGradeOnWire[] };

export type ReportQcGradeOnWire = Omit<StoredReportQcGrade, 'gradedAt'> & { gradedAt: string };
export type ReportQualityOnWire = Omit<ReportQuality, 'current' | 'history'> & { current: ReportQcGradeOnWire | null; history: ReportQcGradeOnWire[] };

/** Image QC (质控): a modality's scale and defects, a study's grades, grading a series; report QC; a centre's configuration. */
export class QualityClient {
  constructor(
    private readonly connection: Connection,
    readonly apiRoot = '/api',
  ) {}

  catalogue(modality: string): Promise<QcCatalogue> {
    return this.connection.json(`${this.apiRoot}/quality/scales/${encodeURIComponent(modality)}`);
  }

  studyQuality(studyInstanceUid: string): Promise<StudyQualityOnWire> {
    return this.connection.json(`${this.apiRoot}/studies/${encodeURIComponent(studyInstanceUid)}/quality-grades`);
  }

  grade(studyInstanceUid: string, seriesInstanceUid: string, request: GradeRequest): Promise<QcGradeOnWire> {
    return this.connection.json(`${this.apiRoot}/studies/${encodeURIComponent(studyInstanceUid)}/series/${encodeURIComponent(seriesInstanceUid)}/quality-grades`, { method: 'POST', json: request });
  }

  reportQuality(studyInstanceUid: string): Promise<ReportQualityOnWire> {
    return this.connection.json(`${this.apiRoot}/studies/${encodeURIComponent(studyInstanceUid)}/report-quality-grades`);
  }

  gradeReport(studyInstanceUid: string, request: { grade: string; errors: string[]; comment: string; version?: number }): Promise<ReportQcGradeOnWire> {
    return this.connection.json(`${this.apiRoot}/studies/${encodeURIComponent(studyInstanceUid)}/report-quality-grades`, { method: 'POST', json: request });
  }

  centreConfiguration(): Promise<CentreQcConfiguration> {
    return this.connection.json(`${this.apiRoot}/admin/quality-configuration`);
  }

  saveCentreConfiguration(configuration: unknown): Promise<CentreQcConfiguration> {
    return this.connection.json(`${this.apiRoot}/admin/quality-configuration`, { method: 'PUT', json: configuration });
  }
}
