import { pino, type Logger } from 'pino';

export type { Logger };

/** One JSON logger per process; components take a child with their own `component` field. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
