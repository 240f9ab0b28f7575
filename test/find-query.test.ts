import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeDataset } from '../archive/dicom/dataset-codec.ts';
import type { DicomJsonDataset } from '../archive/dicom/types.ts';
import type { Logger } from '../archive/log.ts';
import { encodeResponse, FindRefusal, PATIENT_ROOT_FIND, readIdentifier, responseIdentifier } from '../archive/query-retrieve/find-query.ts';
import type { FindService } from '../archive/query-retrieve/find-service.ts';
import { FindScp } from '../gateway/dimse/find-scp.ts';

const EXPLICIT = '1.2.840.10008.1.2.1';

const identifier = (level: string, keys: DicomJsonDataset): DicomJsonDataset => ({ '00080052': { vr: 'CS', Value: [level] }, ...keys });

describe('reading a C-FIND identifier', () => {
  it('turns PS3.4 C.2.2.2 matching into conditions: single value, wildcard, range, UID list, person name; empty keys are universal', () => {
    const query = readIdentifier(
      identifier('STUDY', {
        '00080005': { vr: 'CS', Value: ['GB18030'] },
        '00100010': { vr: 'PN', Value: [{ Alphabetic: '王*' }] },
        '00100020': { vr: 'LO', Value: ['QS0012345'] },
        '00080050': { vr: 'SH', Value: ['QS2303*'] },
        '00080020': { vr: 'DA', Value: ['20240101-'] },
        '00080030': { vr: 'TM', Value: ['0800-1200'] },
        '0020000D': { vr: 'UI', Value: ['1.2.3', '1.2.4'] },
        '00080061': { vr: 'CS', Value: ['CT', 'MR'] },
        '00081030': { vr: 'LO' },
      }),
      'study-root',
    );
    assert.equal(query.level, 'STUDY');
    assert.deepEqual(query.characterSet, ['GB18030']);
    assert.deepEqual(
      Object.fromEntries(query.conditions.map((condition) => [condition.tag, condition.match])),
      {
        '00100010': { kind: 'person-name', patterns: ['\\| 王[^|]* \\|'], keyPrefixes: ['|王'] },
        '00100020': { kind: 'equals', value: 'QS0012345' },
        '00080050': { kind: 'wildcard', pattern: 'QS2303*' },
        '00080020': { kind: 'date-range', from: '2024-01-01', to: undefined },
        '00080030': { kind: 'time-range', from: '0800', to: '1200' },
        '0020000D': { kind: 'any-of', values: ['1.2.3', '1.2.4'] },
        '00080061': { kind: 'contains-any', patterns: ['CT', 'MR'] },
      },
    );
    assert.deepEqual(query.notMatched, []);
    assert.ok(query.keys['00081030'], 'a universal key is returned');
    assert.equal(query.keys['00080005'], undefined, 'Specific Character Set is the response’s own, not a key');
  });

  it('matches at PATIENT level on patient attributes only, and reports keys it cannot match (FF01)', () => {
    const query = readIdentifier(
      identifier('PATIENT', { '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Wang*' }] }, '00080020': { vr: 'DA', Value: ['20240101'] }, '00101001': { vr: 'PN', Value: [{ Alphabetic: 'X' }] } }),
      'patient-root',
    );
    assert.deepEqual(query.conditions.map((condition) => condition.tag), ['00100010']);
    assert.deepEqual(query.notMatched.sort(), ['00080020', '00101001']);
  });

  it('reports sequence matching as not supported, and takes an empty sequence item as a request for the items', () => {
    const asked = readIdentifier(identifier('SERIES', { '00400275': { vr: 'SQ', Value: [{ '00401001': { vr: 'SH' } }] } }), 'study-root');
    assert.deepEqual(asked.notMatched, []);
    const matched = readIdentifier(identifier('SERIES', { '00400275': { vr: 'SQ', Value: [{ '00401001': { vr: 'SH', Value: ['RP1'] } }] } }), 'study-root');
    assert.deepEqual(matched.notMatched, ['00400275']);
  });

  it('refuses a level the model lacks (A900) and a value that cannot mean anything (C000), naming the key', () => {
    assert.throws(
      () => readIdentifier(identifier('PATIENT', {}), 'study-root'),
      (error: unknown) => error instanceof FindRefusal && error.status === 'identifier-does-not-match-sop-class' && error.offendingTags[0] === '00080052',
    );
    assert.throws(() => readIdentifier({}, 'patient-root'), (error: unknown) => error instanceof FindRefusal && error.status === 'identifier-does-not-match-sop-class');
    assert.throws(
      () => readIdentifier(identifier('STUDY', { '00080020': { vr: 'DA', Value: ['20241345'] } }), 'study-root'),
      (error: unknown) => error instanceof FindRefusal && error.status === 'unable-to-process' && error.offendingTags[0] === '00080020',
    );
  });

  it('reads text with the sender’s configured character set when it has one', () => {
    const query = readIdentifier(identifier('STUDY', { '00080005': { vr: 'CS', Value: ['ISO_IR 100'] } }), 'study-root', 'GB18030');
    assert.deepEqual(query.characterSet, ['GB18030']);
  });
});

describe('a C-FIND response', () => {
  const match: DicomJsonDataset = {
    '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Wang^XiaoDong', Ideographic: '王^小东' }] },
    '00100020': { vr: 'LO', Value: ['QS0012345'] },
    '00100030': { vr: 'DA', Value: ['19650312'] },
    '0020000D': { vr: 'UI', Value: ['1.2.3'] },
    '0020000E': { vr: 'UI', Value: ['1.2.3.1'] },
    '00400275': { vr: 'SQ', Value: [{ '00401001': { vr: 'SH', Value: ['RP1'] }, '0032000A': { vr: 'CS', Value: ['X'] } }] },
  };

  it('carries exactly the keys asked for, with the required ones (level, Retrieve AE Title, availability, unique keys up to the level)', () => {
    const query = readIdentifier(
      identifier('SERIES', { '00100010': { vr: 'PN' }, '00080060': { vr: 'CS' }, '00400275': { vr: 'SQ', Value: [{ '00401001': { vr: 'SH' } }] } }),
      'patient-root',
    );
    assert.deepEqual(responseIdentifier(query, match, 'YINGYUN'), {
      '00100010': match['00100010'],
      '00080060': { vr: 'CS' },
      '00400275': { vr: 'SQ', Value: [{ '00401001': { vr: 'SH', Value: ['RP1'] } }] },
      '00100020': match['00100020'],
      '0020000D': match['0020000D'],
      '0020000E': match['0020000E'],
      '00080052': { vr: 'CS', Value: ['SERIES'] },
      '00080054': { vr: 'AE', Value: ['YINGYUN'] },
      '00080056': { vr: 'CS', Value: ['ONLINE'] },
    });
  });

  it('is written in the query’s character set, or in ISO_IR 192 when that cannot hold a value, and declares none for plain ASCII', () => {
    const response = { '00100010': match['00100010']!, '0020000D': match['0020000D']! };
    const declared = (bytes: Buffer) => decodeDataset(bytes, EXPLICIT)['00080005']?.Value;
    assert.deepEqual(declared(encodeResponse(response, ['GB18030'], EXPLICIT)), ['GB18030']);
    assert.deepEqual(declared(encodeResponse(response, ['', 'ISO 2022 IR 58'], EXPLICIT)), [null, 'ISO 2022 IR 58']);
    assert.deepEqual(declared(encodeResponse(response, ['ISO_IR 100'], EXPLICIT)), ['ISO_IR 192']);
    assert.deepEqual(declared(encodeResponse(response, [], EXPLICIT)), ['ISO_IR 192']);
    assert.equal(declared(encodeResponse({ '0020000D': match['0020000D']! }, [], EXPLICIT)), undefined);
    assert.deepEqual(decodeDataset(encodeResponse(response, ['ISO_IR 100'], EXPLICIT), EXPLICIT)['00100010'], match['00100010']);
  });
});

describe('the C-FIND SCP’s extended negotiation (PS3.4 C.5.1.1.1)', () => {
  // Negotiation reads neither the index nor the log.
  const scp = new FindScp({} as FindService, {} as Logger);

  it('accepts relational queries and refuses combined date-time, fuzzy and timezone matching, in as many bytes as proposed', () => {
    assert.deepEqual([...scp.extendedNegotiation(PATIENT_ROOT_FIND, Buffer.from([1, 1, 1, 1]))], [1, 0, 0, 0]);
    assert.deepEqual([...scp.extendedNegotiation(PATIENT_ROOT_FIND, Buffer.from([0]))], [0]);
    assert.deepEqual([...scp.extendedNegotiation(PATIENT_ROOT_FIND, Buffer.from([1, 1]))], [1, 0]);
  });

  it('serves the two FIND SOP classes in Explicit or Implicit VR Little Endian, and C-FIND only', () => {
    assert.deepEqual(scp.transferSyntaxesFor(PATIENT_ROOT_FIND), ['1.2.840.10008.1.2.1', '1.2.840.10008.1.2']);
    assert.ok(scp.transferSyntaxesFor('1.2.840.10008.5.1.4.1.2.2.1'));
    assert.equal(scp.transferSyntaxesFor('1.2.840.10008.5.1.4.1.2.2.2'), undefined, 'Study Root MOVE is another service’s');
    assert.equal(scp.handles(0x0020), true);
    assert.equal(scp.handles(0x0021), false);
  });
});
