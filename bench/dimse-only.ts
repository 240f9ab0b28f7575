/**
 * Yingyun's DIMSE layer (dcmjs-dimse plus our SCP) with the ingest step replaced by an immediate
 * answer: no parse, no storage, no database. `npm run bench:ingest` sends it the same corpus as the
 * real receivers, so the table shows how much of Yingyun's time is the protocol layer's alone.
 * Never used outside the benchmark.
 */
import { loadConfig } from '../archive/config.ts';
import type { IngestService } from '../archive/ingest.ts';
import { createLogger } from '../archive/log.ts';
import { startDimseServer } from '../gateway/dimse/server.ts';
import type { Runtime } from '../workers/runtime.ts';

const config = loadConfig();
const log = createLogger('warn');
const answerAtOnce = { ingest: async () => ({ result: 'stored' }) } as unknown as IngestService;
const server = await startDimseServer({ log, ingest: answerAtOnce } as unknown as Runtime, config.dicom);
process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
