import { loadConfigOrExit } from '../archive/config.ts';
import { createLogger } from '../archive/log.ts';
import { preloadReportFonts } from '../archive/reading/report-pdf.ts';
import { startWorkerHttpServer } from '../gateway/http/worker-server.ts';
import { openRuntime } from './runtime.ts';

/** `npm run worker`: processes jobs from Redis (BullMQ) beside separately started gateways. */
const config = loadConfigOrExit();
const log = createLogger(config.logLevel);
if (!config.redisUrl || !config.databaseUrl) {
  log.fatal('a separate worker needs REDIS_URL and DATABASE_URL (the embedded default runs workers inside `npm start`)');
  process.exit(2);
}
try {
  const runtime = await openRuntime(config, log, { runWorkers: true, role: 'worker' });
  const httpServer =
    config.workerHttpPort === undefined
      ? undefined
      : await startWorkerHttpServer(runtime, config.http.host, config.workerHttpPort).catch(async (error: unknown) => {
          await runtime.close();
          throw error;
        });
  log.info(
    { database: runtime.db.description, objects: runtime.store.description, jobs: runtime.queue.description, ...(httpServer ? { http: `http://${config.http.host}:${httpServer.port}/` } : {}) },
    'worker ready',
  );
  // Parsed now, not by the first signed report.
  void preloadReportFonts(log.child({ component: 'report-pdf' }));
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    Promise.resolve(httpServer?.close())
      .then(() => runtime.close())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
} catch (error) {
  log.fatal({ err: error }, 'worker could not start');
  process.exit(1);
}
