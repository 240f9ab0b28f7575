import type { StoredQcGrade } from '../../../archive/db/quality-repository.ts';
import type { CentreQcConfiguration, GradeRequest, QcCatalogue, StudyQuality } from '../../../archive/quality/quality-service.ts';
import type { Connection } from './http.ts';

/** A stored grade as JSON carries it: its times are ISO strings. */
export type QcGradeOnWire = Omit<StoredQcGrade, 'gradedAt' | 'rejectionKos'> & {
  gradedAt: string;
  rejectionKos: { seriesInstanceUid: string; sopInstanceUid: string; storedAt: string | null } | null;
};

export type StudyQualityOnWire = Omit<StudyQuality, 'current' | 'history'> & { current: QcGradeOnWire[]; history: QcGradeOnWire[] };

/** Image QC (质控): a modality's scale and defects, a study's grades, grading a series; a centre's configuration. */
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

  centreConfiguration(): Promise<CentreQcConfiguration> {
    return this.connection.json(`${this.apiRoot}/admin/quality-configuration`);
  }

  saveCentreConfiguration(configuration: unknown): Promise<CentreQcConfiguration> {
    return this.connection.json(`${this.apiRoot}/admin/quality-configuration`, { method: 'PUT', json: configuration });
  }
}
