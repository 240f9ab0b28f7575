import type { Config } from '../archive/config.ts';
import type { Logger } from '../archive/log.ts';
import { openRuntime, type Runtime } from '../workers/runtime.ts';
import { startDimseServer } from './dimse/server.ts';
import { startHttpServer } from './http/server.ts';

export type Role = 'all' | 'gateway';

export interface RunningYingyun {
  runtime: Runtime;
  httpPort: number;
  dicomPort: number;
  /** Stops accepting, finishes in-flight associations, requests and jobs, then closes backends. */
  stop(): Promise<void>;
}

/**
 * Starts the gateway (DIMSE + HTTP). With role 'all' (the embedded default) this process also runs
 * the workers; with 'gateway' it only enqueues, and `npm run worker` processes.
 */
export async function startYingyun(config: Config, log: Logger, role: Role): Promise<RunningYingyun> {
  let ready = false;
  const runtime = await openRuntime(config, log, { runWorkers: role === 'all' });
  try {
    const httpServer = await startHttpServer(runtime, config.http, () => ready);
    const dimseServer = await startDimseServer(runtime, config.dicom).catch(async (error: unknown) => {
      await httpServer.close();
      throw error;
    });
    ready = true;
    return {
      runtime,
      httpPort: httpServer.port,
      dicomPort: dimseServer.port,
      async stop() {
        ready = false;
        await Promise.all([dimseServer.close(), httpServer.close()]);
        await runtime.close();
      },
    };
  } catch (error) {
    await runtime.close();
    throw error;
  }
}
