import { randomBytes } from 'node:crypto';
import type { Response } from 'express';
import { HttpProblem } from '../problem.ts';

/**
 * multipart/related (RFC 2387) as DICOMweb uses it. Ours because the common multipart parsers only
 * accept multipart/form-data.
 */
export interface MediaType {
  type: string;
  parameters: Record<string, string>;
}

export interface MultipartPart {
  headers: Record<string, string>;
  body: Buffer;
}

/** Parses a media type with its parameters; quoted parameter values are unquoted. */
export function parseMediaType(value: string): MediaType {
  const [type = '', ...rest] = splitOutsideQuotes(value, ';');
  const parameters: Record<string, string> = {};
  for (const parameter of rest) {
    const separator = parameter.indexOf('=');
    if (separator < 0) continue;
    const name = parameter.slice(0, separator).trim().toLowerCase();
    let parameterValue = parameter.slice(separator + 1).trim();
    if (parameterValue.startsWith('"') && parameterValue.endsWith('"') && parameterValue.length >= 2) {
      parameterValue = parameterValue.slice(1, -1).replace(/\\(.)/g, '$1');
    }
    parameters[name] = parameterValue;
  }
  return { type: type.trim().toLowerCase(), parameters };
}

export function splitOutsideQuotes(value: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (const character of value) {
    if (character === '"') quoted = !quoted;
    if (character === separator && !quoted) {
      parts.push(current);
      current = '';
    } else {
      current += character;
    }
  }
  parts.push(current);
  return parts;
}

export function parseMultipartRelated(body: Buffer, boundary: string): MultipartPart[] {
  if (!boundary || boundary.length > 70) {
    throw new HttpProblem(400, 'problem.badRequest', 'multipart/related needs a boundary parameter of 1 to 70 characters');
  }
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  let position = body.indexOf(delimiter);
  if (position < 0) throw new HttpProblem(400, 'problem.badRequest', `the body contains no "--${boundary}" delimiter`);
  const parts: MultipartPart[] = [];
  for (;;) {
    position += delimiter.length;
    if (body[position] === 0x2d && body[position + 1] === 0x2d) return parts; // close delimiter
    const lineEnd = body.indexOf('\n', position);
    if (lineEnd < 0) throw new HttpProblem(400, 'problem.badRequest', 'the multipart body ends inside a boundary line');
    const headerStart = lineEnd + 1;
    const { headers, bodyStart } = readHeaders(body, headerStart);
    const next = findNextDelimiter(body, delimiter, bodyStart);
    if (next < 0) throw new HttpProblem(400, 'problem.badRequest', `part ${parts.length + 1} has no closing "--${boundary}" delimiter (truncated body?)`);
    // The CRLF before a delimiter belongs to the delimiter (RFC 2046 5.1.1).
    const bodyEnd = body[next - 1] === 0x0a ? (body[next - 2] === 0x0d ? next - 2 : next - 1) : next;
    parts.push({ headers, body: body.subarray(bodyStart, bodyEnd) });
    position = next;
  }
}

function readHeaders(body: Buffer, start: number): { headers: Record<string, string>; bodyStart: number } {
  const crlf = body.indexOf('\r\n\r\n', start);
  const lf = body.indexOf('\n\n', start);
  let end: number;
  let separatorLength: number;
  if (crlf >= 0 && (lf < 0 || crlf <= lf)) {
    end = crlf;
    separatorLength = 4;
  } else if (lf >= 0) {
    end = lf;
    separatorLength = 2;
  } else if (body[start] === 0x0d && body[start + 1] === 0x0a) {
    return { headers: {}, bodyStart: start + 2 }; // no headers at all
  } else {
    throw new HttpProblem(400, 'problem.badRequest', 'a multipart part has no end of headers (blank line)');
  }
  if (end === start || (body[start] === 0x0d && end === start)) return { headers: {}, bodyStart: end + separatorLength };
  const headers: Record<string, string> = {};
  for (const line of body.toString('latin1', start, end).split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { headers, bodyStart: end + separatorLength };
}

/** The next delimiter that starts a line. */
function findNextDelimiter(body: Buffer, delimiter: Buffer, from: number): number {
  let candidate = body.indexOf(delimiter, from);
  while (candidate >= 0 && candidate > from && body[candidate - 1] !== 0x0a) candidate = body.indexOf(delimiter, candidate + 1);
  return candidate;
}

/** Streams a multipart/related response part by part, so a whole study is never held in memory. */
export class MultipartRelatedWriter {
  readonly boundary = `yingyun-${randomBytes(12).toString('hex')}`;
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
    const headerLines = [`Content-Type: ${contentType}`, ...Object.entries(extraHeaders).map(([name, value]) => `${name}: ${value}`)];
    await this.write(Buffer.from(`--${this.boundary}\r\n${headerLines.join('\r\n')}\r\n\r\n`, 'latin1'));
    if (Buffer.isBuffer(body)) await this.write(body);
    else for await (const chunk of body) await this.write(chunk);
    await this.write(Buffer.from('\r\n'));
  }

  async end(): Promise<void> {
    this.start();
    this.response.end(`--${this.boundary}--\r\n`);
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
