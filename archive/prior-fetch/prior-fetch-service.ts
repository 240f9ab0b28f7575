import { z } from 'zod';
import { adminChangeEvent, type Actor } from '../access/administration.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { PriorFetch, PriorFetchRepository, PriorFetchSource } from '../db/prior-fetch-repository.ts';
import type { Logger } from '../log.ts';
import { regionToday } from '../recognition/region-day.ts';
import type { MoveOutcome, MoveProgress, RemoteStudy } from '../../gateway/dimse/query-retrieve-scu.ts';
import { studiesToRetrieve } from './studies-to-retrieve.ts';

/** How Yingyun talks to a remote PACS as a query/retrieve SCU (gateway/dimse/query-retrieve-scu.ts). */
export interface RemotePacs {
  findStudiesOfPatient(peer: RemotePeer, callingAeTitle: string, patient: { patientId: string; issuer?: string }): Promise<RemoteStudy[]>;
  moveStudy(peer: RemotePeer, callingAeTitle: string, destinationAeTitle: string, studyInstanceUid: string, onProgress: (progress: MoveProgress) => void): Promise<MoveOutcome>;
}

export interface RemotePeer {
  aeTitle: string;
  host: string;
  port: number;
  tlsRequired: boolean;
}

export interface PriorFetchDependencies {
  repository: PriorFetchRepository;
  remote: RemotePacs;
  /** Yingyun's AE title: the calling AE of its queries, and the C-MOVE destination the PACS sends to. */
  aeTitle: string;
  /** Queues a fetch to run (workers/jobs/fetch-priors.ts). */
  enqueue(fetchId: string): Promise<void>;
  /** Queues the on-arrival rule for a study, once its burst of instances has paused (debounced per study). */
  enqueueArrival(studyInstanceUid: string): Promise<void>;
  /** The person a study's patient record is linked to (null while not linked). */
  personOfStudy(studyInstanceUid: string): Promise<string | null>;
  audit: Pick<AuditLog, 'recordInBackground' | 'record'>;
  /** Whether a peer is registered (a source must be one with a host and port). */
  findPeer(peerId: string): Promise<{ aeTitle: string; host: string | null; port: number | null } | null>;
  log: Logger;
  /** Today in the region (YYYY-MM-DD), for the look-back; the region's clock by default. */
  today?: () => string;
}

/** A request the caller may not make or that makes no sense: the REST layer answers its status. */
export class PriorFetchRefusal extends Error {
  constructor(
    readonly httpStatus: 400 | 404,
    readonly reason: string,
  ) {
    super(reason);
    this.name = 'PriorFetchRefusal';
  }
}

const sourceSettings = z.object({ onArrival: z.boolean().default(false), lookBackDays: z.number().int().min(1).max(36500).default(1825) }).strict();

/** A person fetched from a source on arrival at most this often: a busy patient's studies do not each start a fetch. */
const ON_ARRIVAL_PAUSE_MS = 12 * 60 * 60 * 1000;
/** How long the answer "is any source set to fetch on arrival?" is reused: it is asked for every instance indexed. */
const SOURCES_CACHE_MS = 30_000;

/**
 * Pulls a person's earlier studies from hospitals' own PACS into Yingyun (issue 17, query/retrieve
 * SCU): for each registered source, Study Root C-FIND by the Patient ID that PACS knows the person
 * by (the person's record at the source's institution), then C-MOVE to Yingyun of every study in the
 * look-back window that Yingyun does not already hold whole. The instances arrive as C-STOREs from
 * that PACS, so they take the one ingest path and are filed under its institution like anything it
 * sends.
 */
export class PriorFetchService {
  private onArrivalSources?: { checkedAt: number; any: Promise<boolean> };

  constructor(private readonly deps: PriorFetchDependencies) {}

  /** Fetches the person from every source (on demand), or from `peerId` only; returns the fetches, new or joined. */
  async request(personId: string, requestedBy: string, peerId?: string): Promise<PriorFetch[]> {
    const sources = (await this.deps.repository.sources()).filter((source) => peerId === undefined || source.peerId === peerId);
    if (peerId !== undefined && sources.length === 0) throw new PriorFetchRefusal(404, `DICOM peer ${peerId} is not a prior-fetch source`);
    return this.open(personId, sources, 'on-demand', requestedBy);
  }

  /**
   * An instance of this study was indexed (the index job's intake hook, for every instance): when a
   * source fetches on arrival, the rule runs once the study's instances pause. Costs nothing more
   * per instance than a cached answer when no source does.
   */
  async studyIndexed(studyInstanceUid: string): Promise<void> {
    const now = Date.now();
    if (!this.onArrivalSources || now - this.onArrivalSources.checkedAt > SOURCES_CACHE_MS) {
      this.onArrivalSources = { checkedAt: now, any: this.deps.repository.sources().then((sources) => sources.some((source) => source.onArrival)) };
    }
    if (await this.onArrivalSources.any.catch(() => false)) await this.deps.enqueueArrival(studyInstanceUid);
  }

  /** The rule: fetch the study's person from the sources set to fetch on arrival, unless that was done in the last hours. */
  async studyArrived(studyInstanceUid: string): Promise<void> {
    const sources = (await this.deps.repository.sources()).filter((source) => source.onArrival);
    if (sources.length === 0) return;
    const personId = await this.deps.personOfStudy(studyInstanceUid);
    if (!personId) return;
    const due: PriorFetchSource[] = [];
    for (const source of sources) {
      const last = await this.deps.repository.lastRequestedAt(personId, source.peerId);
      if (!last || Date.now() - last.getTime() > ON_ARRIVAL_PAUSE_MS) due.push(source);
    }
    await this.open(personId, due, 'on-arrival', null);
  }

  private async open(personId: string, sources: readonly PriorFetchSource[], trigger: PriorFetch['trigger'], requestedBy: string | null): Promise<PriorFetch[]> {
    const fetches: PriorFetch[] = [];
    for (const source of sources) {
      const { id, created } = await this.deps.repository.open(personId, source.peerId, trigger, requestedBy);
      if (created) await this.deps.enqueue(id);
      const fetch = await this.deps.repository.fetch(id);
      if (fetch) fetches.push(fetch);
    }
    return fetches;
  }

  sources(): Promise<PriorFetchSource[]> {
    return this.deps.repository.sources();
  }

  /** Makes a registered peer a source (or changes its settings): it must have a host and port to be called at. */
  async setSource(actor: Actor, peerId: string, settings: unknown): Promise<PriorFetchSource> {
    const parsed = sourceSettings.safeParse(settings ?? {});
    if (!parsed.success) throw new PriorFetchRefusal(400, parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; '));
    const peer = await this.deps.findPeer(peerId);
    if (!peer) throw new PriorFetchRefusal(404, `no DICOM peer ${peerId}`);
    if (!peer.host || !peer.port) throw new PriorFetchRefusal(400, `DICOM peer ${peer.aeTitle} has no host and port: Yingyun could not call it`);
    await this.deps.repository.setSource(peerId, parsed.data, actor.username);
    await this.deps.audit.record(adminChangeEvent(actor, 'U', { change: 'prior-fetch-source', peerId, aeTitle: peer.aeTitle, ...parsed.data }));
    this.onArrivalSources = undefined;
    return (await this.deps.repository.source(peerId))!;
  }

  async removeSource(actor: Actor, peerId: string): Promise<void> {
    if (!(await this.deps.repository.removeSource(peerId))) throw new PriorFetchRefusal(404, `DICOM peer ${peerId} is not a prior-fetch source`);
    await this.deps.audit.record(adminChangeEvent(actor, 'D', { change: 'prior-fetch-source', peerId }));
    this.onArrivalSources = undefined;
  }

  fetchesOfPerson(personId: string): Promise<PriorFetch[]> {
    return this.deps.repository.fetchesOfPerson(personId, 50);
  }

  fetch(id: string): Promise<PriorFetch | null> {
    return this.deps.repository.fetch(id);
  }

  /** Runs one fetch to its end (the job's handler); a fetch already finished is left as it is. */
  async run(fetchId: string): Promise<void> {
    const fetch = await this.deps.repository.fetch(fetchId);
    if (!fetch || fetch.state === 'done' || fetch.state === 'failed') return;
    const source = await this.deps.repository.source(fetch.peerId);
    if (!source?.host || !source.port) {
      await this.deps.repository.progress(fetchId, { state: 'failed', error: `${fetch.aeTitle} is not a prior-fetch source with a host and port any more` });
      return;
    }
    const peer: RemotePeer = { aeTitle: source.aeTitle, host: source.host, port: source.port, tlsRequired: source.tlsRequired };
    const patientIds = await this.deps.repository.patientIdsAt(fetch.personId, source.institutionId);
    if (patientIds.length === 0) {
      await this.deps.repository.progress(fetchId, { state: 'done', error: `no Patient ID of this person is known at ${source.aeTitle}'s hospital: nothing to ask it for` });
      return;
    }
    await this.deps.repository.progress(fetchId, { state: 'querying' });
    const found = new Map<string, RemoteStudy>();
    try {
      for (const patient of patientIds) {
        for (const study of await this.deps.remote.findStudiesOfPatient(peer, this.deps.aeTitle, { patientId: patient.patientId, ...(patient.issuer ? { issuer: patient.issuer } : {}) })) {
          found.set(study.studyInstanceUid, study);
        }
      }
    } catch (error) {
      await this.failed(fetch, error);
      return;
    }
    const held = await this.deps.repository.heldInstanceCounts([...found.keys()]);
    const { retrieve, alreadyHeld } = studiesToRetrieve([...found.values()], held, { today: this.deps.today?.() ?? regionToday(), lookBackDays: source.lookBackDays });
    this.auditQuery(fetch, peer, patientIds.map((patient) => patient.patientId), found.size);
    const expected = retrieve.reduce((sum, study) => sum + (study.numberOfInstances ?? 0), 0);
    await this.deps.repository.progress(fetchId, { state: 'retrieving', studiesFound: found.size, studiesHeld: alreadyHeld, instancesRemaining: expected });

    let completed = 0;
    let failed = 0;
    let retrieved = 0;
    const problems: string[] = [];
    for (const [position, study] of retrieve.entries()) {
      const notYetStarted = retrieve.slice(position + 1).reduce((sum, later) => sum + (later.numberOfInstances ?? 0), 0);
      let lastWrite = Promise.resolve();
      const outcome = await this.deps.remote.moveStudy(peer, this.deps.aeTitle, this.deps.aeTitle, study.studyInstanceUid, (progress) => {
        // Progress is shown, not relied on: writes are chained so the last one lands last.
        lastWrite = lastWrite.then(() =>
          this.deps.repository.progress(fetchId, { instancesCompleted: completed + progress.completed + progress.warning, instancesFailed: failed + progress.failed, instancesRemaining: progress.remaining + notYetStarted }),
        ).catch(() => undefined);
      });
      await lastWrite;
      completed += outcome.completed + outcome.warning;
      failed += outcome.failed;
      if (outcome.completed + outcome.warning > 0) retrieved++;
      if (outcome.reason) problems.push(`${study.studyInstanceUid}: ${outcome.reason}`);
      await this.deps.repository.progress(fetchId, { studiesRetrieved: retrieved, instancesCompleted: completed, instancesFailed: failed, instancesRemaining: notYetStarted });
    }
    const nothingMoved = retrieve.length > 0 && retrieved === 0 && problems.length > 0;
    await this.deps.repository.progress(fetchId, {
      state: nothingMoved ? 'failed' : 'done',
      instancesRemaining: 0,
      ...(problems.length > 0 ? { error: problems.slice(0, 5).join('; ') + (problems.length > 5 ? `; and ${problems.length - 5} more` : '') } : {}),
    });
    this.deps.log.info({ fetchId, peer: peer.aeTitle, found: found.size, retrieved, completed, failed }, 'prior fetch finished');
  }

  private async failed(fetch: PriorFetch, error: unknown): Promise<void> {
    const reason = error instanceof Error ? error.message : String(error);
    this.deps.log.warn({ fetchId: fetch.id, peer: fetch.aeTitle, reason }, 'prior fetch failed');
    await this.deps.repository.progress(fetch.id, { state: 'failed', error: reason });
  }

  /** The C-FIND to another hospital's PACS asked about a patient: a query event in the trail, as Yingyun's own queries are. */
  private auditQuery(fetch: PriorFetch, peer: RemotePeer, patientIds: string[], studiesFound: number): void {
    this.deps.audit.recordInBackground({
      eventType: 'query',
      action: 'E',
      outcome: 0,
      userName: fetch.requestedBy ?? this.deps.aeTitle,
      detail: { via: 'prior-fetch', remoteAeTitle: peer.aeTitle, trigger: fetch.trigger, patientIds, studiesFound, fetchId: fetch.id },
    });
  }
}
