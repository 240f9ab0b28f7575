/**
 * Where an instance's time goes on its way to Success, summed over every instance ingested by this
 * process: what `npm run bench:ingest` prints per instance (GET /api/stats), so the next change to the
 * ingest path is chosen from figures, not guesses. The flush and the commit run side by side, so the
 * stages of one instance overlap; `ingest` is the wall time from the last fragment to the answer.
 */
export const INGEST_STAGES = [
  /** First to last fragment of a C-STORE (network, DIMSE, hashing, writes queued), in gateway/dimse. */
  'receive',
  'parse',
  /** Waiting, at the end, for the object's bytes still queued for the disk (or its whole write, for STOW-RS). */
  'object write',
  /** fdatasync of the object's data (S3: the upload). */
  'object flush',
  /** The rename into place and the flush of its folder's entry. */
  'folder flush',
  /** From handing the receipt to the committer to its commit (one WAL flush shared by a group). */
  'commit wait',
  /** Last fragment to the answer: the critical path of everything above but `receive`. */
  'ingest',
] as const;
export type IngestStage = (typeof INGEST_STAGES)[number];

export type StageRecorder = (stage: IngestStage, milliseconds: number) => void;

export interface IngestStageSnapshot {
  instances: number;
  /** Mean milliseconds per instance in each stage. */
  msPerInstance: Record<IngestStage, number>;
}

export class IngestStageTimes {
  private readonly totals = new Map<IngestStage, number>();
  private instances = 0;

  readonly record: StageRecorder = (stage, milliseconds) => {
    this.totals.set(stage, (this.totals.get(stage) ?? 0) + milliseconds);
    if (stage === 'ingest') this.instances++;
  };

  snapshot(): IngestStageSnapshot {
    const per = (stage: IngestStage) => (this.instances === 0 ? 0 : (this.totals.get(stage) ?? 0) / this.instances);
    return { instances: this.instances, msPerInstance: Object.fromEntries(INGEST_STAGES.map((stage) => [stage, per(stage)])) as Record<IngestStage, number> };
  }
}

/** Times a step against a recorder that may be absent (a store used outside the ingest path). */
export async function timed<T>(record: StageRecorder | undefined, stage: IngestStage, work: () => Promise<T>): Promise<T> {
  if (!record) return work();
  const started = performance.now();
  try {
    return await work();
  } finally {
    record(stage, performance.now() - started);
  }
}
