import { randomBytes } from 'node:crypto';
import type { Response } from 'express';

/**
 * Media types and multipart/related (RFC 2046 5.1, RFC 2387) as DICOMweb uses them. Ours because
 * the common multipart parsers only accept multipart/form-data, and because STOW-RS must read a
 * body part by part instead of holding a whole study in memory.
 */
export interface MediaType {
  /** 'type/subtype', lower case. */
  type: string;
  /** Parameter names in lower case; quoted values unquoted. */
  parameters: Record<string, string>;
}

/** Parses a media type or media range with its parameters (RFC 9110 8.3.1); quoted values are unquoted. */
export function parseMediaType(value: string): MediaType {
  const [type = '', ...rest] = splitOutsideQuotes(value, ';');
  const parameters: Record<string, string> = {};
  for (const parameter of rest) {
    const separator = parameter.indexOf('=');
    if (separator < 0) continue;
    const name = parameter.slice(0, separator).trim().toLowerCase();
    let parameterValue = parameter.slice(separator + 1).trim();
    if (parameterValue.length >= 2 && parameterValue.startsWith('"') && parameterValue.endsWith('"')) {
      parameterValue = parameterValue.slice(1, -1).replace(/\\(.)/g, '$1');
    }
    parameters[name] = parameterValue;
  }
  return { type: type.trim().toLowerCase(), parameters };
}

/** Splits a header value at `separator`, except inside quoted strings (which may contain \" escapes). */
export function splitOutsideQuotes(value: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  let escaped = false;
  for (const character of value) {
    if (escaped) escaped = false;
    else if (quoted && character === '\\') escaped = true;
    else if (character === '"') quoted = !quoted;
    else if (character === separator && !quoted) {
      parts.push(current);
      current = '';
      continue;
    }
    current += character;
  }
  parts.push(current);
  return parts;
}

/**
 * Whether an Accept header admits one of `offered` (exact types, lower case). No header, `*\/*`
 * and `type/*` admit everything of that type; a range with q=0 refuses it.
 */
export function accepts(acceptHeader: string | undefined, offered: readonly string[]): boolean {
  if (!acceptHeader || acceptHeader.trim() === '') return true;
  return splitOutsideQuotes(acceptHeader, ',').some((range) => {
    const media = parseMediaType(range);
    if (media.parameters.q !== undefined && !(Number(media.parameters.q) > 0)) return false;
    return offered.some((type) => media.type === '*/*' || media.type === type || (media.type.endsWith('/*') && type.startsWith(media.type.slice(0, -1))));
  });
}

/** RFC 2046 5.1.1: 1 to 70 characters from a restricted set, not ending with a space. */
export function isValidBoundary(boundary: string): boolean {
  return /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/.test(boundary);
}

export interface MultipartPart {
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: Buffer;
}

/** The body is not well-formed multipart: the reason says what is wrong and where. */
export class MultipartError extends Error {
  override name = 'MultipartError';
}

/** A header block longer than this is not a MIME part header but garbage (or an attack). */
const MAX_PART_HEADER_BYTES = 16 * 1024;

/**
 * Reads a multipart/related body part by part as it arrives. Each part is yielded as soon as its
 * closing delimiter has been read, so the consumer can process it (and the HTTP request stays
 * paused, which is back-pressure) before the next one is read; at most one part and one chunk are
 * held in memory. What RFC 2046 allows is tolerated: a preamble and an epilogue, transport padding
 * (spaces, tabs) after a boundary, and bare LF line ends from sloppy senders. A missing close
 * delimiter, a part without a header/body separator or a body without any delimiter throws
 * MultipartError — after the parts that were complete have been yielded.
 */
export async function* readMultipartRelated(source: AsyncIterable<Buffer>, boundary: string): AsyncGenerator<MultipartPart> {
  if (!isValidBoundary(boundary)) {
    throw new MultipartError(`the boundary parameter ${JSON.stringify(boundary)} is not a valid multipart boundary (1 to 70 characters, RFC 2046)`);
  }
  const dashBoundary = Buffer.from(`--${boundary}`, 'latin1');
  const buffer = new GrowableBuffer();
  let state: 'preamble' | 'after-delimiter' | 'headers' | 'body' | 'epilogue' = 'preamble';
  /** True until preamble bytes are discarded: only then can a delimiter start without a line end before it. */
  let atBodyStart = true;
  let headers: Record<string, string> = {};
  /** Where the current part's body starts in `buffer`, and from where to search on for its delimiter. */
  let bodyStart = 0;
  let searchFrom = 0;
  let partCount = 0;

  for await (const chunk of source) {
    if (state === 'epilogue') continue; // read to the end (the sender is still sending), but ignore it
    buffer.append(chunk);
    for (;;) {
      if (state === 'preamble') {
        const found = findDelimiter(buffer.view(), dashBoundary, 0, atBodyStart);
        if (!found) {
          // Keep only what could be the start of a delimiter that straddles chunks.
          const preambleSeen = Math.max(0, buffer.length - dashBoundary.length - 1);
          if (preambleSeen > 0) {
            buffer.discardBefore(preambleSeen);
            atBodyStart = false;
          }
          break;
        }
        buffer.discardBefore(found.after);
        state = 'after-delimiter';
      }
      if (state === 'after-delimiter') {
        const line = endOfDelimiterLine(buffer.view());
        if (line === 'incomplete') break;
        if (line === 'close') {
          state = 'epilogue';
          break;
        }
        if (line === 'invalid') throw new MultipartError(`a "--${boundary}" delimiter is followed by something other than a line end`);
        buffer.discardBefore(line);
        state = 'headers';
      }
      if (state === 'headers') {
        const end = endOfHeaders(buffer.view());
        if (!end) {
          if (buffer.length > MAX_PART_HEADER_BYTES) throw new MultipartError(`part ${partCount + 1} has no blank line ending its headers`);
          break;
        }
        headers = parseHeaderLines(buffer.view().toString('latin1', 0, end.headersEnd));
        bodyStart = end.bodyStart;
        searchFrom = bodyStart;
        state = 'body';
      }
      if (state === 'body') {
        const found = findDelimiter(buffer.view(), dashBoundary, searchFrom, false);
        if (!found) {
          searchFrom = Math.max(bodyStart, buffer.length - dashBoundary.length);
          break;
        }
        partCount++;
        // The part keeps the bytes it was read into; the buffer continues with what follows.
        const part = buffer.take(found.after);
        yield { headers, body: part.subarray(bodyStart, Math.max(bodyStart, found.bodyEnd)) };
        state = 'after-delimiter';
      }
    }
  }
  if (state === 'preamble') throw new MultipartError(`the body contains no "--${boundary}" delimiter`);
  if (state !== 'epilogue') {
    throw new MultipartError(
      state === 'body'
        ? `part ${partCount + 1} is not followed by a "--${boundary}" delimiter: the body is truncated`
        : `the body ends without the closing "--${boundary}--" delimiter`,
    );
  }
}

/**
 * The next "--boundary" that starts a line (or the body, before any preamble). RFC 2046 forbids
 * that string at the start of any line of a part, so it is a delimiter whatever follows it.
 * `bodyEnd` excludes the line end before it, which belongs to the delimiter (RFC 2046 5.1.1).
 */
function findDelimiter(data: Buffer, dashBoundary: Buffer, from: number, atBodyStart: boolean): { bodyEnd: number; after: number } | null {
  let candidate = data.indexOf(dashBoundary, from);
  while (candidate >= 0) {
    if (data[candidate - 1] === 0x0a || (atBodyStart && candidate === 0)) {
      let bodyEnd = candidate;
      if (data[bodyEnd - 1] === 0x0a) bodyEnd--;
      if (data[bodyEnd - 1] === 0x0d) bodyEnd--;
      return { bodyEnd, after: candidate + dashBoundary.length };
    }
    candidate = data.indexOf(dashBoundary, candidate + 1);
  }
  return null;
}

/**
 * After "--boundary": "--" closes the body; otherwise optional transport padding and a line end
 * start the next part (the returned offset is where its headers begin).
 */
function endOfDelimiterLine(data: Buffer): number | 'close' | 'incomplete' | 'invalid' {
  if (data.length < 2) return 'incomplete';
  if (data[0] === 0x2d && data[1] === 0x2d) return 'close';
  let position = 0;
  while (position < data.length && (data[position] === 0x20 || data[position] === 0x09)) position++;
  if (position >= data.length) return 'incomplete';
  if (data[position] === 0x0a) return position + 1;
  if (data[position] === 0x0d) {
    if (position + 1 >= data.length) return 'incomplete';
    return data[position + 1] === 0x0a ? position + 2 : 'invalid';
  }
  return 'invalid';
}

/** Headers end at the first empty line; a part may have no headers at all. */
function endOfHeaders(data: Buffer): { headersEnd: number; bodyStart: number } | null {
  if (data[0] === 0x0a) return { headersEnd: 0, bodyStart: 1 };
  if (data[0] === 0x0d && data[1] === 0x0a) return { headersEnd: 0, bodyStart: 2 };
  const crlf = data.indexOf('\r\n\r\n');
  const lf = data.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { headersEnd: crlf, bodyStart: crlf + 4 };
  if (lf >= 0) return { headersEnd: lf, bodyStart: lf + 2 };
  return null;
}

function parseHeaderLines(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  let name = '';
  for (const line of text.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && name) {
      headers[name] += ` ${line.trim()}`; // folded continuation line (RFC 5322 2.2.3)
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    name = line.slice(0, colon).trim().toLowerCase();
    headers[name] = line.slice(colon + 1).trim();
  }
  return headers;
}

/** A byte buffer that grows by doubling, so appending chunks of a large part costs O(total), not O(n²). */
class GrowableBuffer {
  private bytes = Buffer.allocUnsafe(64 * 1024);
  length = 0;

  append(chunk: Buffer): void {
    if (this.length + chunk.length > this.bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.length + chunk.length));
      this.bytes.copy(grown, 0, 0, this.length);
      this.bytes = grown;
    }
    chunk.copy(this.bytes, this.length);
    this.length += chunk.length;
  }

  view(): Buffer {
    return this.bytes.subarray(0, this.length);
  }

  discardBefore(offset: number): void {
    this.bytes.copy(this.bytes, 0, offset, this.length);
    this.length -= offset;
  }

  /** Hands out the bytes before `offset` without copying them; the buffer goes on with the rest. */
  take(offset: number): Buffer {
    const taken = this.bytes.subarray(0, offset);
    const rest = this.bytes.subarray(offset, this.length);
    this.bytes = Buffer.allocUnsafe(Math.max(64 * 1024, rest.length));
    rest.copy(this.bytes);
    this.length = rest.length;
    return taken;
  }
}

/** A boundary for a response: random, so it cannot occur in the parts. */
export function multipartBoundary(): string {
  return `yingyun-${randomBytes(12).toString('hex')}`;
}

/** The delimiter line and headers that open one part. */
export function multipartPartHeader(boundary: string, contentType: string, extraHeaders: Record<string, string> = {}): Buffer {
  const lines = [`Content-Type: ${contentType}`, ...Object.entries(extraHeaders).map(([name, value]) => `${name}: ${value}`)];
  return Buffer.from(`--${boundary}\r\n${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

/** What follows the last part. */
export function multipartCloseDelimiter(boundary: string): Buffer {
  return Buffer.from(`--${boundary}--\r\n`, 'latin1');
}

/** Streams a multipart/related response part by part, so a whole study is never held in memory. */
export class MultipartRelatedWriter {
  readonly boundary = multipartBoundary();
  private started = false;

  constructor(
    private readonly response: Response,
    private readonly rootType: string,
    private readonly extraParameters = '',
  ) {}

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.response.status(200);
    this.response.setHeader('Content-Type', `multipart/related; type="${this.rootType}"; boundary=${this.boundary}${this.extraParameters}`);
  }

  /** Writes one part; resolves when the response can take more (back-pressure). */
  async writePart(contentType: string, body: Buffer | AsyncIterable<Buffer>, extraHeaders: Record<string, string> = {}): Promise<void> {
    this.start();
    await this.write(multipartPartHeader(this.boundary, contentType, extraHeaders));
    if (Buffer.isBuffer(body)) await this.write(body);
    else for await (const chunk of body) await this.write(chunk);
    await this.write(Buffer.from('\r\n'));
  }

  async end(): Promise<void> {
    this.start();
    this.response.end(multipartCloseDelimiter(this.boundary));
  }

  private write(chunk: Buffer): Promise<void> {
    if (this.response.write(chunk)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onDrain = () => {
        this.response.off('close', onClose);
        resolve();
      };
      const onClose = () => {
        this.response.off('drain', onDrain);
        reject(new Error('client went away'));
      };
      this.response.once('drain', onDrain);
      this.response.once('close', onClose);
    });
  }
}
