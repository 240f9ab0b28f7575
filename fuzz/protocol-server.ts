import { startTestSystem } from '../test/support/system.ts';

/**
 * The server the protocol fuzzer attacks, in a process of its own so that a crash shows as its
 * exit and its memory is its own: the whole system (DIMSE, ingest into a fresh PostgreSQL database
 * and object store), as the test suites start it. Prints {"dicomPort": …} once listening; stops
 * cleanly (database dropped, data removed) on SIGTERM.
 */

const system = await startTestSystem();
process.stdout.write(`${JSON.stringify({ dicomPort: system.dicomPort, aeTitle: system.aeTitle })}\n`);
process.once('SIGTERM', () => {
  void system.shutdown().then(() => process.exit(0));
});
