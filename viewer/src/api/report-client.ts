import type { DraftSave, Report, ReportContent, ReportStatusSummary, ReportTemplate, SignRequest } from '../../../archive/reading/report.ts';
import { reportStatusQueries } from '../logic/report-status.ts';
import type { Connection } from './http.ts';

/** /api/studies/{study}/report and the report templates: the report editor's one way to the archive. */
export class ReportClient {
  constructor(
    private readonly connection: Connection,
    readonly apiRoot = '/api',
  ) {}

  private reportUrl(studyInstanceUid: string, rest = ''): string {
    return `${this.apiRoot}/studies/${encodeURIComponent(studyInstanceUid)}/report${rest}`;
  }

  get(studyInstanceUid: string): Promise<Report> {
    return this.connection.json(this.reportUrl(studyInstanceUid), { withPurpose: true });
  }

  /** Opens (creates when absent) the report of a study, from a workitem when there is one. */
  open(studyInstanceUid: string, workitemUid?: string): Promise<Report> {
    return this.connection.json(this.reportUrl(studyInstanceUid), { method: 'POST', json: workitemUid ? { workitemUid } : {} });
  }

  saveDraft(studyInstanceUid: string, content: ReportContent, revision: number): Promise<{ revision: number; updatedAt: string }> {
    return this.connection.json(this.reportUrl(studyInstanceUid, '/draft'), { method: 'PUT', json: { content, revision } satisfies DraftSave });
  }

  sign(studyInstanceUid: string, request: SignRequest): Promise<Report> {
    return this.connection.json(this.reportUrl(studyInstanceUid, '/signatures'), { method: 'POST', json: request });
  }

  /** The workitem a report was opened from (its clinical information), as DICOM JSON. */
  async workitem(workitemUid: string): Promise<Record<string, { vr: string; Value?: unknown[] }>> {
    const body = await this.connection.json<Record<string, { vr: string; Value?: unknown[] }>[]>(`/dicom-web/workitems/${encodeURIComponent(workitemUid)}`, { accept: 'application/dicom+json' });
    return body[0] ?? {};
  }

  /** Where the signed reports of these studies stand (a page of the list, a patient's priors), a batch a request. */
  async statuses(studyInstanceUids: readonly string[]): Promise<ReportStatusSummary[]> {
    const batches = await Promise.all(
      reportStatusQueries(studyInstanceUids).map((query) => this.connection.json<ReportStatusSummary[]>(`${this.apiRoot}/report-statuses?${query}`, { withPurpose: true })),
    );
    return batches.flat();
  }

  templates(modality: string | undefined, bodyPart: string | undefined): Promise<ReportTemplate[]> {
    const query = new URLSearchParams();
    if (modality) query.set('modality', modality);
    if (bodyPart) query.set('bodyPart', bodyPart);
    return this.connection.json(`${this.apiRoot}/report-templates?${query}`);
  }
}
