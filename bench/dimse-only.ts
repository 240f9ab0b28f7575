/**
 * Yingyun's DIMSE layer (gateway/dimse: upper layer and SCP) with the ingest step replaced by an immediate
 * answer: no parse, no storage, no database. `npm run bench:ingest` sends it the same corpus as the
 * real receivers, so the table shows how much of Yingyun's time is the protocol layer's alone.
 * Never used outside the benchmark.
 */
import { loadConfig } from '../archive/config.ts';
import type { IngestService } from '../archive/ingest.ts';
import { IngestStageTimes } from '../archive/ingest-stages.ts';
import { createLogger } from '../archive/log.ts';
import { Metrics } from '../archive/metrics/metrics.ts';
import { startDimseServer } from '../gateway/dimse/server.ts';
import type { Runtime } from '../workers/runtime.ts';

const config = loadConfig();
const log = createLogger('warn');
// What the SCP reads of an outcome (the study, for its per-association audit summary), made up.
const parsed = { studyInstanceUid: '2.25.1', sopClassUid: '1.2.840.10008.5.1.4.1.1.2', metadata: {} };
// Where the dataset's bytes go as they arrive: nowhere.
const nowhere = { write: () => undefined, finish: async () => undefined, discard: async () => undefined };
// The SCP records its receive time and counts associations as the real gateway does (cheap, in memory).
const answerAtOnce = { ingest: async () => ({ result: 'stored', parsed }), openUpload: () => nowhere, stages: new IngestStageTimes() } as unknown as IngestService;
// The peer look-up (once per association) and the audit records stay out too: every caller is the one
// registered peer, and audit events go nowhere. Only C-ECHO and C-STORE are offered (no query/retrieve services).
const benchPeer = { id: '1', institutionId: '1', aeTitle: 'BENCH', allowedNetworks: [], host: null, port: null, tlsRequired: false, characterSet: null };
const institutions = { findPeerByAeTitle: async () => benchPeer, quarantineInstitutionId: async () => '1' };
const audit = { recordInBackground: () => undefined, record: async () => undefined };
const server = await startDimseServer({ log, ingest: answerAtOnce, config, institutions, audit, metrics: new Metrics('gateway') } as unknown as Runtime, config.dicom, []);
process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
