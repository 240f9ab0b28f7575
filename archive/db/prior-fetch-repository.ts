import type pg from 'pg';

/** A registered peer Yingyun may query and retrieve a person's earlier studies from. */
export interface PriorFetchSource {
  peerId: string;
  institutionId: string;
  aeTitle: string;
  host: string | null;
  port: number | null;
  tlsRequired: boolean;
  onArrival: boolean;
  lookBackDays: number;
}

export type PriorFetchState = 'queued' | 'querying' | 'retrieving' | 'done' | 'failed';

/** One fetch of a person's studies from one source, with its progress. */
export interface PriorFetch {
  id: string;
  personId: string;
  peerId: string;
  aeTitle: string;
  trigger: 'on-demand' | 'on-arrival';
  requestedBy: string | null;
  state: PriorFetchState;
  studiesFound: number;
  studiesHeld: number;
  studiesRetrieved: number;
  instancesCompleted: number;
  instancesFailed: number;
  instancesRemaining: number;
  error: string | null;
  requestedAt: string;
  finishedAt: string | null;
}

/** A person's Patient ID at the institution a source belongs to: what that PACS knows them by. */
export interface PatientIdAtSource {
  patientId: string;
  /** The Issuer of Patient ID the record's instances carried; null when they carried none. */
  issuer: string | null;
}

export type PriorFetchProgress = Partial<Pick<PriorFetch, 'state' | 'studiesFound' | 'studiesHeld' | 'studiesRetrieved' | 'instancesCompleted' | 'instancesFailed' | 'instancesRemaining' | 'error'>>;

const SOURCE_COLUMNS = `p.id AS "peerId", p.institution_id AS "institutionId", p.ae_title AS "aeTitle", p.host, p.port,
  p.tls_required AS "tlsRequired", s.on_arrival AS "onArrival", s.look_back_days AS "lookBackDays"`;
const FETCH_COLUMNS = `f.id, f.person_id AS "personId", f.peer_id AS "peerId", p.ae_title AS "aeTitle", f.trigger,
  f.requested_by AS "requestedBy", f.state, f.studies_found AS "studiesFound", f.studies_held AS "studiesHeld",
  f.studies_retrieved AS "studiesRetrieved", f.instances_completed AS "instancesCompleted",
  f.instances_failed AS "instancesFailed", f.instances_remaining AS "instancesRemaining", f.error,
  f.requested_at AS "requestedAt", f.finished_at AS "finishedAt"`;
const PROGRESS_COLUMNS: Record<keyof PriorFetchProgress, string> = {
  state: 'state',
  studiesFound: 'studies_found',
  studiesHeld: 'studies_held',
  studiesRetrieved: 'studies_retrieved',
  instancesCompleted: 'instances_completed',
  instancesFailed: 'instances_failed',
  instancesRemaining: 'instances_remaining',
  error: 'error',
};

/** The only place with SQL for prior-fetch sources and fetches. */
export class PriorFetchRepository {
  constructor(private readonly pool: pg.Pool) {}

  async sources(): Promise<PriorFetchSource[]> {
    const { rows } = await this.pool.query<PriorFetchSource>(`SELECT ${SOURCE_COLUMNS} FROM prior_fetch_sources s JOIN dicom_peers p ON p.id = s.peer_id ORDER BY p.ae_title`);
    return rows;
  }

  async source(peerId: string): Promise<PriorFetchSource | null> {
    const { rows } = await this.pool.query<PriorFetchSource>(`SELECT ${SOURCE_COLUMNS} FROM prior_fetch_sources s JOIN dicom_peers p ON p.id = s.peer_id WHERE s.peer_id = $1`, [peerId]);
    return rows[0] ?? null;
  }

  async setSource(peerId: string, settings: { onArrival: boolean; lookBackDays: number }, updatedBy: string): Promise<void> {
    await this.pool.query(
      `INSERT INTO prior_fetch_sources (peer_id, on_arrival, look_back_days, updated_by) VALUES ($1, $2, $3, $4)
       ON CONFLICT (peer_id) DO UPDATE SET on_arrival = $2, look_back_days = $3, updated_by = $4, updated_at = now()`,
      [peerId, settings.onArrival, settings.lookBackDays, updatedBy],
    );
  }

  async removeSource(peerId: string): Promise<boolean> {
    return ((await this.pool.query('DELETE FROM prior_fetch_sources WHERE peer_id = $1', [peerId])).rowCount ?? 0) > 0;
  }

  /**
   * The person's Patient IDs at an institution (one per record there), with the issuer the data
   * named: the index's own stand-in issuer ('source:…') means nothing to that PACS.
   */
  async patientIdsAt(personId: string, institutionId: string): Promise<PatientIdAtSource[]> {
    const { rows } = await this.pool.query<PatientIdAtSource>(
      `SELECT p.patient_id AS "patientId", NULLIF(p.attributes->'00100021'->'Value'->>0, '') AS issuer FROM person_links l JOIN patients p ON p.id = l.patient_pk
       WHERE l.person_id = $1 AND p.institution_id = $2 AND p.patient_id <> '' ORDER BY p.id`,
      [personId, institutionId],
    );
    return rows;
  }

  /** How many instances of each study Yingyun holds (studies it does not hold are absent). */
  async heldInstanceCounts(studyInstanceUids: readonly string[]): Promise<Map<string, number>> {
    if (studyInstanceUids.length === 0) return new Map();
    const { rows } = await this.pool.query<{ uid: string; count: number }>(
      'SELECT study_instance_uid AS uid, number_of_instances AS count FROM studies WHERE study_instance_uid = ANY($1::text[])',
      [studyInstanceUids],
    );
    return new Map(rows.map((row) => [row.uid, row.count]));
  }

  /**
   * A new fetch, or the one of this person from this source that is still queued or running
   * (`created` false): two requests in a row pull the studies once.
   */
  async open(personId: string, peerId: string, trigger: PriorFetch['trigger'], requestedBy: string | null): Promise<{ id: string; created: boolean }> {
    const inserted = await this.pool.query<{ id: string }>(
      `INSERT INTO prior_fetches (person_id, peer_id, trigger, requested_by) VALUES ($1, $2, $3, $4)
       ON CONFLICT (person_id, peer_id) WHERE state IN ('queued', 'querying', 'retrieving') DO NOTHING RETURNING id`,
      [personId, peerId, trigger, requestedBy],
    );
    if (inserted.rows[0]) return { id: inserted.rows[0].id, created: true };
    const { rows } = await this.pool.query<{ id: string }>(
      "SELECT id FROM prior_fetches WHERE person_id = $1 AND peer_id = $2 AND state IN ('queued', 'querying', 'retrieving')",
      [personId, peerId],
    );
    // The running one finished between the two statements: open again.
    return rows[0] ? { id: rows[0].id, created: false } : this.open(personId, peerId, trigger, requestedBy);
  }

  /** When the person was last fetched from this source (finished or not), for the on-arrival rule's pause. */
  async lastRequestedAt(personId: string, peerId: string): Promise<Date | null> {
    const { rows } = await this.pool.query<{ at: Date }>('SELECT max(requested_at) AS at FROM prior_fetches WHERE person_id = $1 AND peer_id = $2', [personId, peerId]);
    return rows[0]?.at ?? null;
  }

  async fetch(id: string): Promise<PriorFetch | null> {
    const { rows } = await this.pool.query<PriorFetch>(`SELECT ${FETCH_COLUMNS} FROM prior_fetches f JOIN dicom_peers p ON p.id = f.peer_id WHERE f.id = $1`, [id]);
    return rows[0] ?? null;
  }

  async fetchesOfPerson(personId: string, limit: number): Promise<PriorFetch[]> {
    const { rows } = await this.pool.query<PriorFetch>(
      `SELECT ${FETCH_COLUMNS} FROM prior_fetches f JOIN dicom_peers p ON p.id = f.peer_id WHERE f.person_id = $1 ORDER BY f.requested_at DESC, f.id DESC LIMIT $2`,
      [personId, limit],
    );
    return rows;
  }

  /** Fetches still queued or running after a while: their job message may be lost (the reconciler's list). */
  async unfinished(olderThanSeconds: number, limit: number): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>(
      `SELECT id FROM prior_fetches WHERE state IN ('queued', 'querying', 'retrieving') AND requested_at < now() - make_interval(secs => $1) ORDER BY id LIMIT $2`,
      [olderThanSeconds, limit],
    );
    return rows.map((row) => row.id);
  }

  async progress(id: string, progress: PriorFetchProgress): Promise<void> {
    const entries = Object.entries(progress).filter(([, value]) => value !== undefined) as Array<[keyof PriorFetchProgress, unknown]>;
    if (entries.length === 0) return;
    const assignments = entries.map(([key], index) => `${PROGRESS_COLUMNS[key]} = $${index + 2}`);
    const finished = progress.state === 'done' || progress.state === 'failed' ? ', finished_at = now()' : '';
    await this.pool.query(`UPDATE prior_fetches SET ${assignments.join(', ')}${finished} WHERE id = $1`, [id, ...entries.map(([, value]) => value)]);
  }
}
