import type { QcWorklistSettings, WorklistEntry, WorklistQuery } from '../../../archive/quality/qc-worklist.ts';
import type { Connection } from './http.ts';

/** A work-list row as JSON carries it: its times are ISO strings. */
export type WorklistEntryOnWire = Omit<WorklistEntry, 'flags' | 'checks'> & {
  flags: (Omit<WorklistEntry['flags'][number], 'flaggedAt'> & { flaggedAt: string })[];
  checks: (Omit<NonNullable<WorklistEntry['checks']>, 'checkedAt'> & { checkedAt: string }) | null;
};

export interface QcWorklistOnWire {
  /** The sampling rules the list was drawn with. */
  settings: QcWorklistSettings['sampling'];
  entries: WorklistEntryOnWire[];
}

/** The QC work list (质控工作列表): the month's studies to look at and why; clinicians' flags that put a study on it. */
export class QcWorklistClient {
  constructor(
    private readonly connection: Connection,
    readonly apiRoot = '/api',
  ) {}

  worklist(query: WorklistQuery): Promise<QcWorklistOnWire> {
    const params = new URLSearchParams({ month: query.month });
    if (query.institution) params.set('institution', query.institution);
    if (query.modality) params.set('modality', query.modality);
    if (query.status) params.set('status', query.status);
    return this.connection.json(`${this.apiRoot}/quality/worklist?${params.toString()}`);
  }

  /** A clinician's request that QC look at a study (临床反馈), with the reason. */
  flag(studyInstanceUid: string, reason: string): Promise<{ id: string; flaggedAt: string }> {
    return this.connection.json(`${this.apiRoot}/studies/${encodeURIComponent(studyInstanceUid)}/qc-flags`, { method: 'POST', json: { reason }, withPurpose: true });
  }
}
