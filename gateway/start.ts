import { ConfigError, type Config } from '../archive/config.ts';
import { EdgeForwardingRepository } from '../archive/db/edge-forwarding-repository.ts';
import { EdgeForwarder } from '../archive/edge/edge-forwarder.ts';
import type { Logger } from '../archive/log.ts';
import { preloadReportFonts } from '../archive/reading/report-pdf.ts';
import { openRuntime, type Runtime } from '../workers/runtime.ts';
import { startDimseServer } from './dimse/server.ts';
import { edgeRoutes } from './http/edge/edge-routes.ts';
import { startHttpServer } from './http/server.ts';

/** 'edge': a county hospital's store-and-forward node (npm run edge, docs/edge.md): 'all' plus forwarding to the region. */
export type Role = 'all' | 'gateway' | 'edge';

export interface RunningYingyun {
  runtime: Runtime;
  /** On the very first start: the administrator account created, with its password when generated. */
  bootstrapAdmin: { username: string; password: string; generated: boolean } | null;
  httpPort: number;
  dicomPort: number;
  /** The DICOM TLS port, when YINGYUN_DICOM_TLS_* configure one. */
  dicomTlsPort?: number;
  /** With role 'edge': the forwarder to the region. */
  edge?: EdgeForwarder;
  /** Stops accepting, finishes in-flight associations, requests and jobs, then closes backends. */
  stop(): Promise<void>;
}

/**
 * Starts the gateway (DIMSE + HTTP). With role 'all' (the embedded default) this process also runs
 * the workers; with 'gateway' it only enqueues, and `npm run worker` processes.
 */
export async function startYingyun(config: Config, log: Logger, role: Role): Promise<RunningYingyun> {
  if (role === 'edge' && !config.edge) throw new ConfigError('npm run edge needs YINGYUN_EDGE_REGION_URL and YINGYUN_EDGE_REGION_TOKEN (docs/edge.md)');
  let ready = false;
  const runtime = await openRuntime(config, log, { runWorkers: role !== 'gateway', role });
  let retention: NodeJS.Timeout | undefined;
  let edge: EdgeForwarder | undefined;
  try {
    const bootstrapAdmin = await runtime.auth.bootstrapAdmin(config.access.adminPassword);
    retention = keepAuditRetention(runtime, log);
    if (role === 'edge' && config.edge) {
      edge = new EdgeForwarder({ repository: new EdgeForwardingRepository(runtime.db.pool), store: runtime.store, config: config.edge, log: log.child({ component: 'edge' }), metrics: runtime.metrics });
      await edge.start();
    }
    const httpServer = await startHttpServer(runtime, config.http, () => ready, edge ? [edgeRoutes(edge)] : []);
    const dimseServer = await startDimseServer(runtime, config.dicom).catch(async (error: unknown) => {
      await httpServer.close();
      throw error;
    });
    ready = true;
    // This process runs the jobs: the PDF job's fonts are parsed now, not by the first signed report.
    if (role !== 'gateway') void preloadReportFonts(log.child({ component: 'report-pdf' }));
    return {
      runtime,
      bootstrapAdmin,
      httpPort: httpServer.port,
      dicomPort: dimseServer.port,
      ...(dimseServer.tlsPort !== undefined ? { dicomTlsPort: dimseServer.tlsPort } : {}),
      ...(edge ? { edge } : {}),
      async stop() {
        ready = false;
        clearInterval(retention);
        await Promise.all([dimseServer.close(), httpServer.close(), edge?.stop()]);
        await runtime.close();
      },
    };
  } catch (error) {
    clearInterval(retention);
    await edge?.stop();
    await runtime.close();
    throw error;
  }
}

/** Audit events older than the retention period go, oldest first, at start and every six hours. */
function keepAuditRetention(runtime: Runtime, log: Logger): NodeJS.Timeout {
  const days = runtime.config.access.auditRetentionDays;
  const removeOld = () =>
    runtime.audit.removeOlderThanDays(days).then(
      (removed) => removed > 0 && log.info({ removed, days }, 'audit events past their retention removed'),
      (error: unknown) => log.error({ err: error }, 'audit retention failed'),
    );
  void removeOld();
  const timer = setInterval(removeOld, 6 * 3_600_000);
  timer.unref();
  return timer;
}
