import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { COMMAND, COMMAND_FIELD, CommandSet, encodeCommandSet, NO_DATASET } from '../gateway/dimse/command-set.ts';
import { buildAssociateRequest, buildPData, buildReleaseRequest, PDU_TYPE, presentationDataValues } from '../gateway/dimse/pdu.ts';
import { mutate, Random } from './mutate.ts';
import { capturedStreams } from './targets/pdu-seeds.ts';

/**
 * Sends mutated associations to a running gateway over TCP (127.0.0.1 only) and checks it survives
 * them. Each input is one connection: the PDUs of an association DCMTK really made (C-ECHO, C-STORE,
 * C-FIND, C-MOVE; fuzz/capture-pdus.ts), changed — bytes mutated inside a PDU with its length fixed
 * up or not, PDUs dropped, repeated, reordered or borrowed from another association, an unknown PDU
 * type, a wrong length, the stream cut short or written in small pieces. After each batch the
 * server must still exist, answer a C-ECHO (ours, and DCMTK's echoscu when installed) and keep its
 * memory under a bound; a connection it does not close within the time limit after ours ended is
 * a hang. What the server answered (A-ASSOCIATE-AC/RJ, P-DATA, A-RELEASE-RP, A-ABORT and its
 * reason) is tallied: the distinct answers are the coverage a black-box fuzzer can see.
 */

export interface ProtocolFuzzOptions {
  inputs: number;
  seed?: number;
  /** Connections in flight at once. */
  concurrency?: number;
  /** Inputs between two liveness and memory checks. */
  batchSize?: number;
  /** How long the server may take to close a connection after our side ended it. */
  timeLimitMs?: number;
  /** The server's resident memory may grow at most this much over its size after the first batch. */
  maxRssGrowthBytes?: number;
  findingsDir?: string;
  /** How often onProgress hears how far the run is. */
  progressIntervalMs?: number;
  onProgress?: (progress: ProtocolFuzzProgress) => void;
}

export interface ProtocolFuzzProgress {
  /** Inputs sent and answered (or found hanging) so far. */
  inputs: number;
  seconds: number;
  inputsPerSecond: number;
  /** Crashes are seen at the end of a batch (the server exited), hangs as each input ends. */
  crashes: number;
  hangs: number;
  answers: number;
  /** The server's resident memory at the last liveness check. */
  rssBytes: number;
}

export interface ProtocolFuzzResult {
  target: 'protocol';
  inputs: number;
  batches: number;
  /** Distinct answers (sequences of PDU types, DIMSE statuses, abort and reject reasons) the server gave. */
  answers: number;
  /** The most frequent answers, with how many inputs got each. */
  topAnswers: Array<[string, number]>;
  crashes: number;
  hangs: number;
  failedLivenessChecks: number;
  echoscuChecks: number;
  rssStartBytes: number;
  rssMaxBytes: number;
  rssEndBytes: number;
  /** The longest one input took, connection to close (waits for answers included). */
  slowestInputMs: number;
  /** The longest the server took to close after our side ended: what `timeLimitMs` bounds. */
  slowestCloseMs: number;
  seconds: number;
  inputsPerSecond: number;
  findings: string[];
}

const VERIFICATION = '1.2.840.10008.1.1';
const IMPLICIT_LE = '1.2.840.10008.1.2';
/** After our last PDU, how long a quiet server is given before our side ends the connection. */
const QUIET_MS = 50;
/**
 * How long the rest of an association waits for the answer to a whole A-ASSOCIATE-RQ (one that
 * claims more bytes than it has is not waited for: the server rightly waits for them).
 */
const ASSOCIATE_WAIT_MS = 1000;
/** How long an A-RELEASE-RQ waits for the answer to the message it follows. */
const RELEASE_WAIT_MS = 250;

export async function runProtocolFuzzer(options: ProtocolFuzzOptions): Promise<ProtocolFuzzResult> {
  const concurrency = options.concurrency ?? 32;
  const batchSize = options.batchSize ?? 1000;
  const timeLimitMs = options.timeLimitMs ?? 10_000;
  const maxRssGrowth = options.maxRssGrowthBytes ?? 512 * 1024 * 1024;
  const random = new Random(options.seed ?? 1);
  const sessions = (await capturedStreams()).map(({ bytes }) => splitPdus(bytes));
  const server = await startServer();
  const started = performance.now();
  const answers = new Map<string, number>();
  const findings: string[] = [];
  const echoscu = await hasEchoscu();
  let inputs = 0;
  /** Inputs finished, batch or no batch: what progress reports. */
  let done = 0;
  let batches = 0;
  let crashes = 0;
  let hangs = 0;
  let failedLivenessChecks = 0;
  let echoscuChecks = 0;
  let rssStart = 0;
  let rssMax = 0;
  let rssEnd = 0;
  let slowestInputMs = 0;
  let slowestCloseMs = 0;

  const save = async (kind: string, input: Write[], detail: string) => {
    if (!options.findingsDir) return;
    await fs.mkdir(options.findingsDir, { recursive: true });
    const bytes = Buffer.concat(input.map((write) => write.bytes));
    const name = `protocol-${kind}-${createHash('sha1').update(bytes).digest('hex').slice(0, 12)}`;
    await fs.writeFile(path.join(options.findingsDir, `${name}.bin`), bytes);
    // How the bytes were written, so that the input can be sent again as it was.
    const writes = input.map((write) => `${write.pdu ? '+' : ''}${write.bytes.length}`).join(' ');
    await fs.writeFile(path.join(options.findingsDir, `${name}.txt`), `${detail}\nwrites (bytes each, + where a PDU begins): ${writes}\n`);
    findings.push(path.join(options.findingsDir, `${name}.bin`));
  };

  const progress = setInterval(() => {
    const seconds = (performance.now() - started) / 1000;
    options.onProgress?.({ inputs: done, seconds, inputsPerSecond: done / seconds, crashes, hangs, answers: answers.size, rssBytes: rssEnd });
  }, options.progressIntervalMs ?? 10_000);
  try {
    while (inputs < options.inputs && crashes === 0) {
      const batch = Array.from({ length: Math.min(batchSize, options.inputs - inputs) }, () => mutateSession(sessions, random));
      let next = 0;
      const lanes = Array.from({ length: concurrency }, async () => {
        while (next < batch.length) {
          const input = batch[next++]!;
          const outcome = await sendSession(server.port, input, timeLimitMs);
          answers.set(outcome.answer, (answers.get(outcome.answer) ?? 0) + 1);
          done++;
          slowestInputMs = Math.max(slowestInputMs, outcome.milliseconds);
          slowestCloseMs = Math.max(slowestCloseMs, outcome.closeMilliseconds);
          if (outcome.hang) {
            hangs++;
            await save('hang', input, `the server did not close the connection within ${timeLimitMs} ms after ours ended; it answered ${outcome.answer}`);
          }
        }
      });
      await Promise.all(lanes);
      inputs += batch.length;
      batches++;
      if (server.exited()) {
        crashes++;
        for (const input of batch) await save('crash', input, `the server exited during this batch: ${server.exited()}`);
        break;
      }
      const alive = await echo(server.port, server.aeTitle);
      const dcmtkAlive = echoscu ? await echoscuSucceeds(server.port, server.aeTitle) : true;
      if (echoscu) echoscuChecks++;
      if (!alive || !dcmtkAlive) failedLivenessChecks++;
      rssEnd = await residentBytes(server.pid);
      if (batches === 1) rssStart = rssEnd;
      rssMax = Math.max(rssMax, rssEnd);
    }
  } finally {
    clearInterval(progress);
    await server.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  if (rssMax - rssStart > maxRssGrowth) failedLivenessChecks++;
  return {
    target: 'protocol',
    inputs,
    batches,
    answers: answers.size,
    topAnswers: [...answers].sort((a, b) => b[1] - a[1]).slice(0, 8),
    crashes,
    hangs,
    failedLivenessChecks,
    echoscuChecks,
    rssStartBytes: rssStart,
    rssMaxBytes: rssMax,
    rssEndBytes: rssEnd,
    slowestInputMs,
    slowestCloseMs,
    seconds,
    inputsPerSecond: inputs / seconds,
    findings,
  };
}

/** Cuts a captured stream into its PDUs (the captures are well framed). */
function splitPdus(stream: Buffer): Buffer[] {
  const pdus: Buffer[] = [];
  for (let offset = 0; offset + 6 <= stream.length; ) {
    const end = Math.min(stream.length, offset + 6 + stream.readUInt32BE(offset + 2));
    pdus.push(stream.subarray(offset, end));
    offset = end;
  }
  return pdus;
}

/** Header length = body length, after a mutation changed the body's size. */
function framed(pdu: Buffer): Buffer {
  if (pdu.length < 6) return pdu;
  const copy = Buffer.from(pdu);
  copy.writeUInt32BE(pdu.length - 6, 2);
  return copy;
}

const PDU_DICTIONARY = [
  ...Object.values(PDU_TYPE).map((type) => Buffer.from([type, 0])),
  ...[0x10, 0x20, 0x21, 0x30, 0x40, 0x50, 0x51, 0x52, 0x54, 0x55, 0x56, 0x58].map((type) => Buffer.from([type, 0])),
  Buffer.from(VERIFICATION),
  Buffer.from([0xff, 0xff, 0xff, 0xff]),
  Buffer.from([0x00, 0x00, 0x00, 0x00]),
];

/**
 * One write of an input. `pdu` is set when the write begins one of the input's PDUs: that PDU
 * whole, which decides whether the writes wait for the server's answer. A write in small pieces
 * begins a PDU only by chance, and its first byte is no PDU type.
 */
interface Write {
  bytes: Buffer;
  pdu?: Buffer;
}

/**
 * One input: a list of writes. The whole association is kept as separate PDUs so a structural
 * change (drop, repeat, reorder, borrow) lands on PDU boundaries; byte mutations land inside one.
 */
function mutateSession(sessions: Buffer[][], random: Random): Write[] {
  const session = [...random.pick(sessions)];
  const changes = 1 + random.below(3);
  for (let change = 0; change < changes && session.length > 0; change++) {
    const at = random.below(session.length);
    switch (random.below(10)) {
      case 0:
      case 1:
      case 2: {
        const mutated = mutate(session[at]!.subarray(6), { random, dictionary: PDU_DICTIONARY, maxLength: 300_000 });
        session[at] = framed(Buffer.concat([session[at]!.subarray(0, 6), mutated]));
        break;
      }
      case 3:
        session[at] = mutate(session[at]!, { random, dictionary: PDU_DICTIONARY, maxLength: 300_000 });
        break;
      case 4:
        session.splice(at, 1);
        break;
      case 5:
        session.splice(at, 0, session[at]!);
        break;
      case 6: {
        const other = random.pick(sessions);
        session.splice(at, 0, random.pick(other));
        break;
      }
      case 7: {
        // A wrong length: zero, huge, or a few bytes off.
        const pdu = Buffer.from(session[at]!);
        if (pdu.length >= 6) pdu.writeUInt32BE(random.pick([0, 1, 0xffffffff, 0x7fffffff, Math.max(0, pdu.length - 6 + random.below(9) - 4)]), 2);
        session[at] = pdu;
        break;
      }
      case 8: {
        // An unknown or out-of-place PDU type.
        const pdu = Buffer.from(session[at]!);
        pdu[0] = random.chance(0.5) ? random.below(256) : random.pick(Object.values(PDU_TYPE));
        session[at] = pdu;
        break;
      }
      default: {
        // Cut short: the connection ends inside a PDU.
        const pdu = session[at]!;
        session.splice(at, session.length - at, pdu.subarray(0, random.below(pdu.length)));
      }
    }
  }
  const whole = session.map((pdu): Write => ({ bytes: pdu, pdu }));
  // Now and then the same bytes after the first PDU in small pieces, each its own write.
  if (random.chance(0.1) && session.length > 1) {
    const stream = Buffer.concat(session.slice(1));
    /** Where each PDU begins in the stream. */
    const pdus = new Map<number, Buffer>();
    for (let at = 1, offset = 0; at < session.length; offset += session[at++]!.length) pdus.set(offset, session[at]!);
    const pieces: Write[] = [whole[0]!];
    for (let offset = 0; offset < stream.length; ) {
      const size = 1 + random.below(64);
      const pdu = pdus.get(offset);
      pieces.push({ bytes: stream.subarray(offset, offset + size), ...(pdu ? { pdu } : {}) });
      offset += size;
    }
    return pieces;
  }
  return whole;
}

interface SessionOutcome {
  /** What the server sent: PDU types in order, with abort and reject reasons. */
  answer: string;
  hang: boolean;
  /** Connection to close. */
  milliseconds: number;
  /** Our end to the server's close (0 when the server closed first). */
  closeMilliseconds: number;
}

/**
 * Writes one input, ends our side once the server is done answering (it released, aborted or
 * rejected, or went quiet), and waits for the server to close. After an A-ASSOCIATE-RQ the rest
 * waits for the server's answer, as a requestor must (PS3.8 9.2: no P-DATA before the A-ASSOCIATE-AC).
 */
function sendSession(port: number, writes: Write[], timeLimitMs: number): Promise<SessionOutcome> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = net.connect({ host: '127.0.0.1', port });
    const answer: string[] = [];
    let received = Buffer.alloc(0);
    let quiet: NodeJS.Timeout | undefined;
    let deadline: NodeJS.Timeout | undefined;
    let endedAt: number | undefined;
    let finished = false;
    const finish = (hang: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(quiet);
      clearTimeout(deadline);
      socket.destroy();
      const now = performance.now();
      resolve({ answer: answer.join(' ') || 'nothing', hang, milliseconds: now - started, closeMilliseconds: endedAt === undefined ? 0 : now - endedAt });
    };
    const endOurSide = () => {
      clearTimeout(quiet);
      if (socket.writableEnded) return;
      socket.end();
      endedAt = performance.now();
      deadline = setTimeout(() => finish(true), timeLimitMs);
    };
    const quietLater = () => {
      clearTimeout(quiet);
      quiet = setTimeout(endOurSide, QUIET_MS);
    };
    let answered: (() => void) | undefined;
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      while (received.length >= 6 && received.length >= 6 + received.readUInt32BE(2)) {
        const type = received[0]!;
        const body = received.subarray(6, 6 + received.readUInt32BE(2));
        received = received.subarray(6 + body.length);
        if (type === PDU_TYPE.abort) answer.push(`A-ABORT(${body[2]},${body[3]})`);
        else if (type === PDU_TYPE.associateRj) answer.push(`A-ASSOCIATE-RJ(${body[1]},${body[2]},${body[3]})`);
        else if (type === PDU_TYPE.pData) answer.push(dimseStatus(body));
        else if (answer.at(-1) !== `PDU-${type}`) answer.push(`PDU-${type}`);
        if (type === PDU_TYPE.abort || type === PDU_TYPE.associateRj || type === PDU_TYPE.releaseRp) endOurSide();
      }
      answered?.();
      if (!socket.writableEnded && !answered) quietLater();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      answered?.();
      finish(false);
    });
    const nextAnswer = (waitMs: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        answered = () => {
          clearTimeout(timer);
          resolve();
        };
      }).then(() => (answered = undefined));
    socket.on('connect', async () => {
      /** The PDU begun last: written whole by the time the next one begins. */
      let previous: Buffer | undefined;
      for (const { bytes, pdu } of writes) {
        if (finished || socket.writableEnded) return;
        // The server's answer to the message just ended, so a release does not overtake the operation.
        if (pdu?.[0] === PDU_TYPE.releaseRq && pdu.length >= 6 && previous && endsMessage(previous)) await nextAnswer(RELEASE_WAIT_MS);
        socket.write(bytes);
        if (pdu) previous = pdu;
        if (pdu === bytes && answerable(pdu, PDU_TYPE.associateRq)) await nextAnswer(ASSOCIATE_WAIT_MS);
      }
      if (!finished) quietLater();
    });
  });
}

/**
 * Whether a PDU of this type is all there, so the server can answer it. One that claims more bytes
 * than it has is rightly waited for, and nothing will come back before the next write.
 */
function answerable(pdu: Buffer, type: number): boolean {
  return pdu[0] === type && pdu.length >= 6 && pdu.length >= 6 + pdu.readUInt32BE(2);
}

/** Whether a PDU is a P-DATA-TF whose last PDV is the last fragment of a command or dataset. */
function endsMessage(pdu: Buffer): boolean {
  if (pdu[0] !== PDU_TYPE.pData || pdu.length < 12) return false;
  let control: number | undefined;
  try {
    for (const pdv of presentationDataValues(pdu.subarray(6))) control = pdv.control;
  } catch {
    return false;
  }
  return control !== undefined && (control & 0x02) !== 0;
}

/** A response's DIMSE status, when the P-DATA holds a whole command (ours always do). */
function dimseStatus(body: Buffer): string {
  try {
    for (const pdv of presentationDataValues(body)) {
      if ((pdv.control & 0x03) === 0x03) return `RSP(${CommandSet.parse(pdv.fragment).number(COMMAND.status)?.toString(16).padStart(4, '0')})`;
    }
  } catch {
    // Not a whole command: counted as P-DATA.
  }
  return 'P-DATA';
}

/** A C-ECHO in an association of our own: the server is still serving. */
async function echo(port: number, aeTitle: string): Promise<boolean> {
  const request = buildAssociateRequest({
    calledAeTitle: aeTitle,
    callingAeTitle: 'ECHOSCU',
    contexts: [{ id: 1, abstractSyntaxUid: VERIFICATION, transferSyntaxUids: [IMPLICIT_LE] }],
    maxPduLength: 16384,
    implementationClassUid: '1.2.826.0.1.3680043.10.1',
    implementationVersionName: 'YINGYUN_FUZZ',
  });
  const command = encodeCommandSet([
    [COMMAND.affectedSopClassUid, { uid: VERIFICATION }],
    [COMMAND.commandField, { us: COMMAND_FIELD.cEchoRq }],
    [COMMAND.messageId, { us: 1 }],
    [COMMAND.commandDataSetType, { us: NO_DATASET }],
  ]);
  const outcome = await sendSession(port, [request, Buffer.concat(buildPData(1, command, 16384)), buildReleaseRequest()].map((pdu) => ({ bytes: pdu, pdu })), 10_000);
  // Accepted, answered (the C-ECHO-RSP), released.
  return outcome.answer === `PDU-${PDU_TYPE.associateAc} RSP(0000) PDU-${PDU_TYPE.releaseRp}` && !outcome.hang;
}

function hasEchoscu(): Promise<boolean> {
  return new Promise((resolve) => execFile('echoscu', ['--version'], (error) => resolve(!error)));
}

function echoscuSucceeds(port: number, aeTitle: string): Promise<boolean> {
  return new Promise((resolve) =>
    execFile('echoscu', ['-aet', 'ECHOSCU', '-aec', aeTitle, '-to', '10', '127.0.0.1', String(port)], { env: { ...process.env, TCP_NODELAY: '1' }, timeout: 20_000 }, (error) => resolve(!error)),
  );
}

async function residentBytes(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kilobytes = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return kilobytes ? Number(kilobytes) * 1024 : 0;
}

interface RunningServer {
  port: number;
  aeTitle: string;
  pid: number;
  /** Why the server exited, if it did. */
  exited(): string | undefined;
  stop(): Promise<void>;
}

async function startServer(): Promise<RunningServer> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'protocol-server.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
  let exitReason: string | undefined;
  const exitedPromise = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exitReason = `exit code ${code}, signal ${signal}`;
      resolve();
    }),
  );
  const lines = readline.createInterface({ input: child.stdout! });
  const first = await Promise.race([new Promise<string>((resolve) => lines.once('line', resolve)), exitedPromise.then(() => undefined)]);
  if (first === undefined) throw new Error(`the fuzzed server did not start (${exitReason})`);
  const { dicomPort, aeTitle } = JSON.parse(first) as { dicomPort: number; aeTitle: string };
  return {
    port: dicomPort,
    aeTitle,
    pid: child.pid!,
    exited: () => exitReason,
    async stop() {
      if (exitReason) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exitedPromise;
      clearTimeout(killer);
    },
  };
}
