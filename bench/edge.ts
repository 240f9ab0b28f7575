import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Administration, COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { loadConfig } from '../archive/config.ts';
import { createLogger } from '../archive/log.ts';
import { generateCorpus } from '../fixtures/generate.ts';
import { startYingyun } from '../gateway/start.ts';
import { createTestDatabase } from '../test/support/database.ts';
import { regionAccountForEdge, waitFor } from '../test/support/edge.ts';
import { startTestSystem } from '../test/support/system.ts';
import { startThrottlingProxy } from '../test/support/throttling-proxy.ts';

/**
 * npm run bench:edge — the county edge's forwarding rate over a capped link as a share of the cap
 * (issue 17's target: at least 90 %). A region and an edge in this process on 127.0.0.1, a WAN-like
 * proxy between them (20 ms each way, 8× the cap, so the edge's own token bucket is what limits);
 * BENCH_EDGE_MEGABYTES (default 40) of fixture CT instances go into the edge while the link is cut, then the link
 * comes back and the proxy times the upload from its first byte to its last.
 */
const capBytesPerSecond = Number(process.env.BENCH_EDGE_CAP ?? 2_000_000);
const targetBytes = Number(process.env.BENCH_EDGE_MEGABYTES ?? 40) * 1_000_000;

const region = await startTestSystem();
const regionToken = await regionAccountForEdge(region);
const proxy = await startThrottlingProxy({ targetPort: region.httpPort, latencyMs: 20, bytesPerSecond: capBytesPerSecond * 8 });
const database = await createTestDatabase();
const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-bench-edge-'));
const config = loadConfig({
  YINGYUN_DATA_DIR: dataDir,
  YINGYUN_HTTP_PORT: '0',
  YINGYUN_DICOM_PORT: '0',
  YINGYUN_DICOM_HOST: '127.0.0.1',
  YINGYUN_LOG_LEVEL: process.env.YINGYUN_LOG_LEVEL ?? 'warn',
  DATABASE_URL: database.url,
  YINGYUN_EDGE_REGION_URL: `http://127.0.0.1:${proxy.port}`,
  YINGYUN_EDGE_REGION_TOKEN: regionToken,
  YINGYUN_EDGE_BANDWIDTH_BYTES_PER_SECOND: String(capBytesPerSecond),
  YINGYUN_EDGE_RETRY_MAX_SECONDS: '1',
});
const edge = await startYingyun(config, createLogger(config.logLevel), 'edge');
try {
  proxy.cut();
  const administration = new Administration(edge.runtime.institutions, edge.runtime.users, edge.runtime.auth, edge.runtime.audit);
  const institution = await administration.createInstitution(COMMAND_LINE_ACTOR, { code: 'COUNTY1', name: '青石县人民医院', kind: 'hospital' });
  let stored = 0;
  let instances = 0;
  // The demo preset's CT series first: 512×512 slices of 0.5 MB, what a county's CT sends most.
  for (const instance of generateCorpus({ preset: 'demo', seed: 'bench-edge' })) {
    if (stored >= targetBytes) break;
    await edge.runtime.ingest.ingest({ part10: Buffer.from(instance.bytes) }, { via: 'import', name: 'bench-edge', institutionId: institution.id });
    stored += instance.bytes.length;
    instances++;
  }
  console.log(`${instances} instances, ${(stored / 1e6).toFixed(1)} MB queued at the edge; cap ${(capBytesPerSecond / 1e6).toFixed(2)} MB/s`);
  proxy.restore();
  await waitFor('the backlog forwarded', async () => (await edge.edge!.status()).backlog.count === 0, 30 * 60_000);
  const { bytes, firstAt, lastAt } = proxy.uploaded;
  const achieved = bytes / ((lastAt - firstAt) / 1000);
  console.log(`uploaded ${(bytes / 1e6).toFixed(1)} MB in ${((lastAt - firstAt) / 1000).toFixed(1)} s: ${(achieved / 1e6).toFixed(3)} MB/s = ${((achieved / capBytesPerSecond) * 100).toFixed(1)} % of the cap (target ≥ 90 %)`);
} finally {
  await edge.stop();
  await proxy.close();
  await region.shutdown();
  await database.drop();
  await fs.rm(dataDir, { recursive: true, force: true });
}
