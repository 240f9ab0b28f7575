import type { DicomJsonDataset } from '../../../archive/dicom/types.ts';
import type { Reader, ReadingCentre, ReadingNote, ReadingRequest, ReturnReason, TaskSummary } from '../../../archive/reading/reading-wire.ts';
import type { TurnaroundLimit } from '../../../archive/reading/turnaround.ts';
import type { Connection } from './http.ts';

/** The worklist screen's context: the user's reading centre (none at a hospital), its readers, the turnaround limits. */
export interface ReadingContext {
  centre: ReadingCentre | null;
  readers: Reader[];
  turnaroundLimits: TurnaroundLimit[];
}

/** A task as a hospital follows it, with what was said about it. */
export type RequestedTask = TaskSummary & { notes: ReadingNote[] };

/** Well-known SOP Instance UID of the global UPS subscription (PS3.4 CC.3.2). */
const GLOBAL_SUBSCRIPTION = '1.2.840.10008.5.1.4.34.5';

/**
 * The reading workflow over HTTP: the centre's tasks through UPS-RS (the same resources any worklist
 * client uses), the rest through /api/reading. Types are the server's own (archive/reading/reading-wire.ts).
 */
export class ReadingClient {
  constructor(
    private readonly connection: Connection,
    /** The page's address, which the event channel's ws: or wss: address is made from. */
    private readonly pageUrl: () => string,
  ) {}

  context(): Promise<ReadingContext> {
    return this.connection.json('/api/reading/context');
  }

  /** The centre's open and recent tasks, as UPS workitems scheduled on its station. */
  async centreTasks(centreCode: string): Promise<DicomJsonDataset[]> {
    const query = new URLSearchParams({ 'ScheduledStationNameCodeSequence.CodeValue': centreCode, ProcedureStepState: 'SCHEDULED,IN PROGRESS', limit: '100' });
    const response = await this.connection.request(`/dicom-web/workitems?${query}`, { accept: 'application/dicom+json', withPurpose: true });
    return response.status === 204 ? [] : ((await response.json()) as DicomJsonDataset[]);
  }

  requests(): Promise<RequestedTask[]> {
    return this.connection.json('/api/reading/requests', { withPurpose: true });
  }

  assign(workitemUid: string, how: { userId: string } | { roundRobin: true } | { claim: true }): Promise<TaskSummary> {
    return this.connection.json(`/api/reading/tasks/${workitemUid}/assign`, { method: 'POST', json: how });
  }

  returnToHospital(workitemUid: string, reason: ReturnReason, text: string): Promise<TaskSummary> {
    return this.connection.json(`/api/reading/tasks/${workitemUid}/return`, { method: 'POST', json: { reason, text } });
  }

  addNote(workitemUid: string, text: string): Promise<ReadingNote> {
    return this.connection.json(`/api/reading/tasks/${workitemUid}/notes`, { method: 'POST', json: { text } });
  }

  /** The reading centres a request of the user's hospital may go to (those whose region covers it). */
  centres(): Promise<ReadingCentre[]> {
    return this.connection.json('/api/reading/centres');
  }

  request(request: ReadingRequest): Promise<{ workitemUid: string; created: boolean }> {
    return this.connection.json('/api/reading/requests', { method: 'POST', json: request });
  }

  setAvailability(available: boolean): Promise<void> {
    return this.connection.json('/api/reading/availability', { method: 'PUT', json: { available } });
  }

  /**
   * Subscribes this user's worklist AE Title to every workitem it may see, and opens the event
   * channel: each UPS event report (a workitem created, assigned, changed) calls `changed`.
   */
  async listen(aeTitle: string, changed: () => void): Promise<WebSocket> {
    await this.connection.request(`/dicom-web/workitems/${GLOBAL_SUBSCRIPTION}/subscribers/${encodeURIComponent(aeTitle)}?deletionlock=false`, { method: 'POST' });
    const url = new URL(`/dicom-web/subscribers/${encodeURIComponent(aeTitle)}`, this.pageUrl());
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(url);
    socket.addEventListener('message', () => changed());
    return socket;
  }
}
