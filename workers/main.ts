import { loadConfigOrExit } from '../archive/config.ts';
import { createLogger } from '../archive/log.ts';
import { preloadReportFonts } from '../archive/reading/report-pdf.ts';
import { openRuntime } from './runtime.ts';

/** `npm run worker`: processes jobs from Redis (BullMQ) beside separately started gateways. */
const config = loadConfigOrExit();
const log = createLogger(config.logLevel);
if (!config.redisUrl || !config.databaseUrl) {
  log.fatal('a separate worker needs REDIS_URL and DATABASE_URL (the embedded default runs workers inside `npm start`)');
  process.exit(2);
}
try {
  const runtime = await openRuntime(config, log, { runWorkers: true });
  log.info({ database: runtime.db.description, objects: runtime.store.description, jobs: runtime.queue.description }, 'worker ready');
  // Parsed now, not by the first signed report.
  void preloadReportFonts(log.child({ component: 'report-pdf' }));
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    runtime.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
} catch (error) {
  log.fatal({ err: error }, 'worker could not start');
  process.exit(1);
}
