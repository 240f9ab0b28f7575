import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  accepts,
  isValidBoundary,
  multipartCloseDelimiter,
  multipartPartHeader,
  MultipartError,
  parseMediaType,
  readMultipartRelated,
  splitOutsideQuotes,
  type MultipartPart,
} from '../gateway/http/dicomweb/multipart.ts';

/** Feeds `body` in chunks of `size` bytes, as a network would. */
async function* chunked(body: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < body.length; offset += size) yield body.subarray(offset, offset + size);
}

async function parse(body: Buffer | string, boundary: string, chunkSize = 1 << 20): Promise<MultipartPart[]> {
  const parts: MultipartPart[] = [];
  for await (const part of readMultipartRelated(chunked(Buffer.from(body), chunkSize), boundary)) parts.push(part);
  return parts;
}

/** Parts yielded before the parser gave up, and why it did. */
async function parseUntilError(body: string, boundary: string): Promise<{ parts: MultipartPart[]; error: unknown }> {
  const parts: MultipartPart[] = [];
  try {
    for await (const part of readMultipartRelated(chunked(Buffer.from(body), 5), boundary)) parts.push(part);
  } catch (error) {
    return { parts, error };
  }
  return { parts, error: undefined };
}

const binary = Buffer.from([0x00, 0x0d, 0x0a, 0x2d, 0x2d, 0xff, 0x0a, 0x0d]); // CR, LF and '--' inside a part

describe('readMultipartRelated', () => {
  const boundary = 'b0undary';
  const body = Buffer.concat([
    Buffer.from('This preamble is ignored.\r\n--b0undary\r\nContent-Type: application/dicom\r\n\r\n'),
    binary,
    Buffer.from('\r\n--b0undary\r\nContent-Type: application/dicom; transfer-syntax=1.2.840.10008.1.2.1\r\nContent-ID: <two>\r\n\r\nsecond'),
    Buffer.from('\r\n--b0undary--\r\nThe epilogue is ignored, even --b0undary in it.\r\n'),
  ]);

  it('reads parts with their headers whatever the chunking, keeping binary bodies intact', async () => {
    for (const chunkSize of [1, 2, 3, 7, 11, 64, body.length]) {
      const parts = await parse(body, boundary, chunkSize);
      assert.equal(parts.length, 2, `chunks of ${chunkSize}`);
      assert.deepEqual(parts[0]!.body, binary, `chunks of ${chunkSize}`);
      assert.equal(parts[0]!.headers['content-type'], 'application/dicom');
      assert.equal(parts[1]!.body.toString(), 'second');
      assert.equal(parts[1]!.headers['content-id'], '<two>');
      assert.equal(parts[1]!.headers['content-type'], 'application/dicom; transfer-syntax=1.2.840.10008.1.2.1');
    }
  });

  it('reads what dicomweb-client sends: a line end before the first delimiter, none after the last', async () => {
    const parts = await parse('\r\n--abc\r\nContent-Type: application/dicom\r\n\r\nDICM\r\n--abc--', 'abc', 3);
    assert.deepEqual(parts.map((part) => part.body.toString()), ['DICM']);
  });

  it('tolerates bare LF line ends, transport padding after a delimiter, and parts without headers', async () => {
    const parts = await parse('--x \t\n\nno headers\n--x\nContent-Type: application/dicom\n\nlf only\n--x--', 'x', 4);
    assert.deepEqual(parts.map((part) => part.body.toString()), ['no headers', 'lf only']);
    assert.deepEqual(parts[0]!.headers, {});
  });

  it('takes an empty part, and a boundary string that does not start a line as data', async () => {
    const parts = await parse('--q\r\n\r\n\r\n--q\r\n\r\nsee --q here\r\n--q--', 'q', 2);
    assert.deepEqual(parts.map((part) => part.body.toString()), ['', 'see --q here']);
  });

  it('joins folded header lines', async () => {
    const [part] = await parse('--f\r\nContent-Type: multipart/related;\r\n type="application/dicom"\r\n\r\nx\r\n--f--', 'f');
    assert.equal(part!.headers['content-type'], 'multipart/related; type="application/dicom"');
  });

  it('yields the complete parts of a truncated body, then says it is truncated', async () => {
    const { parts, error } = await parseUntilError('--t\r\n\r\nfirst\r\n--t\r\n\r\nsecond, cut off', 't');
    assert.deepEqual(parts.map((part) => part.body.toString()), ['first']);
    assert.ok(error instanceof MultipartError);
    assert.match(error.message, /part 2 is not followed by a "--t" delimiter: the body is truncated/);
  });

  it('refuses a body without the close delimiter, without any delimiter, or with garbage after one', async () => {
    const cases: [string, RegExp][] = [
      ['--t\r\n\r\ncomplete\r\n--t\r\n', /ends without the closing "--t--" delimiter/],
      ['just some bytes, no multipart at all', /contains no "--t" delimiter/],
      ['', /contains no "--t" delimiter/],
      ['--tgarbage\r\n\r\nx\r\n--t--', /followed by something other than a line end/],
      [`--t\r\n${'X-Long: header\r\n'.repeat(2000)}`, /part 1 has no blank line ending its headers/],
    ];
    for (const [body, reason] of cases) {
      const { error } = await parseUntilError(body, 't');
      assert.ok(error instanceof MultipartError, body.slice(0, 20));
      assert.match(error.message, reason);
    }
  });

  it('refuses an invalid boundary before reading', async () => {
    for (const boundary of ['', 'x'.repeat(71), 'ends with space ', 'semi;colon"']) {
      assert.equal(isValidBoundary(boundary), false, boundary);
      await assert.rejects(parse('--x--', boundary), MultipartError);
    }
    assert.equal(isValidBoundary("a b'()+_,-./:=?"), true);
  });

  it('reads back what the writer writes', async () => {
    const boundary = 'yingyun-0123456789abcdef';
    const body = Buffer.concat([
      multipartPartHeader(boundary, 'application/dicom', { 'Content-Location': '/x' }),
      binary,
      Buffer.from('\r\n'),
      multipartPartHeader(boundary, 'application/octet-stream'),
      Buffer.from('two'),
      Buffer.from('\r\n'),
      multipartCloseDelimiter(boundary),
    ]);
    const parts = await parse(body, boundary, 5);
    assert.deepEqual(parts[0]!.body, binary);
    assert.equal(parts[0]!.headers['content-location'], '/x');
    assert.equal(parts[1]!.headers['content-type'], 'application/octet-stream');
  });
});

describe('media types', () => {
  it('parses parameters, quoted or not, with escapes and separators inside quotes', () => {
    assert.deepEqual(parseMediaType('Multipart/Related; Type="application/dicom"; boundary="a;b \\"c\\""'), {
      type: 'multipart/related',
      parameters: { type: 'application/dicom', boundary: 'a;b "c"' },
    });
    assert.deepEqual(parseMediaType('multipart/related;boundary=plain'), { type: 'multipart/related', parameters: { boundary: 'plain' } });
    assert.deepEqual(splitOutsideQuotes('a, "b, \\"c,", d', ','), ['a', ' "b, \\"c,"', ' d']);
  });

  it('negotiates: no Accept, wildcards and the JSON types are fine; XML and q=0 are not', () => {
    const json = ['application/dicom+json', 'application/json'];
    assert.equal(accepts(undefined, json), true);
    assert.equal(accepts('*/*', json), true);
    assert.equal(accepts('application/*;q=0.5', json), true);
    assert.equal(accepts('application/dicom+xml, application/json', json), true);
    assert.equal(accepts('multipart/related; type="application/dicom+xml"', json), false);
    assert.equal(accepts('application/dicom+json;q=0', json), false);
    assert.equal(accepts('text/html', json), false);
  });
});
