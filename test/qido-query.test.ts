import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { personNameSearchKeys } from '../archive/dicom/normalize.ts';
import type { DicomJsonPersonName } from '../archive/dicom/types.ts';
import { personNamePatterns } from '../archive/query/person-name.ts';
import { DEFAULT_LIMIT, MAX_RESULTS, parseQidoQuery, QidoQueryError } from '../archive/query/qido-query.ts';
import { metadataTagsToRead } from '../archive/query/result-attributes.ts';

/** Whether a query value finds a stored name, by the same regular expressions PostgreSQL runs. */
function finds(value: string, stored: DicomJsonPersonName, fuzzy = false): boolean {
  const keys = personNameSearchKeys([stored]);
  return personNamePatterns(value, fuzzy).every((pattern) => new RegExp(pattern, 'u').test(keys));
}

const wang = { Alphabetic: 'Wang^XiaoDong', Ideographic: '王^小东' };
const wangUnseparated = { Alphabetic: 'WANG^XIAODONG', Ideographic: '王小东' };
const li = { Alphabetic: 'Li^Ji', Ideographic: '李^𠮷' };

describe('person-name matching', () => {
  it('matches a whole component group, case- and width-insensitively, in any group', () => {
    for (const value of ['WANG^XIAODONG', 'wang^xiaodong', 'Ｗａｎｇ^Ｘｉａｏｄｏｎｇ', '王^小东', 'Wang^XiaoDong=王^小东', '=王^小东']) {
      assert.equal(finds(value, wang), true, value);
    }
    for (const value of ['wang', 'xiaodong', '王', 'Wang^XiaoDong=李^𠮷', 'wang^xiao']) assert.equal(finds(value, wang), false, value);
  });

  it('treats * and ? as wildcards within one group', () => {
    for (const value of ['王*', '*小东', 'wang*', '*dong', 'w?ng^*', '*', '王^小?', '李*']) {
      assert.equal(finds(value, value === '李*' ? li : wang), true, value);
    }
    for (const value of ['张*', '*小西', 'xiao*', 'wang*王']) assert.equal(finds(value, wang), false, value);
  });

  it('does not need the ^ between Han characters, on either side', () => {
    assert.equal(finds('王小东', wang), true);
    assert.equal(finds('王^小东', wangUnseparated), true);
    assert.equal(finds('*小东', wangUnseparated), true);
    assert.equal(finds('李𠮷', li), true, 'a character outside the BMP');
  });

  it('fuzzy: the start of any component; for Han text, any character of a group', () => {
    for (const value of ['xiao', 'XIAOD', 'wang^xiao', '小', '小东', '东', '王']) assert.equal(finds(value, wang, true), true, value);
    assert.equal(finds('小东', wangUnseparated, true), true);
    for (const value of ['iao', 'dong', 'ang']) assert.equal(finds(value, wang, true), false, value);
  });

  it('makes regular-expression characters in a value literal', () => {
    const odd = { Alphabetic: 'O.Brien^J+(x)' };
    assert.equal(finds('o.brien^j+(x)', odd), true);
    assert.equal(finds('o.brien^j+(x)', { Alphabetic: 'OxBrien^J+(x)' }), false);
    assert.deepEqual(personNamePatterns('*', false), [], 'universal matching needs no condition');
  });
});

describe('parseQidoQuery', () => {
  it('reads keywords and tags, ranges, UID lists, wildcards, paging and includefield', () => {
    const query = parseQidoQuery('study', {
      PatientName: '王*',
      '00100020': 'QS001*',
      StudyDate: '20200101-20201231',
      StudyInstanceUID: '1.2.3,1.2.4\\1.2.5',
      ModalitiesInStudy: 'CT',
      limit: '10',
      offset: '20',
      includefield: ['00081030,PatientAge', 'InstitutionName'],
    });
    assert.equal(query.limit, 10);
    assert.equal(query.offset, 20);
    const matches = Object.fromEntries(query.conditions.map((condition) => [condition.tag, condition.match]));
    assert.deepEqual(matches['00100020'], { kind: 'wildcard', pattern: 'QS001*' });
    assert.deepEqual(matches['00080020'], { kind: 'date-range', from: '2020-01-01', to: '2020-12-31' });
    assert.deepEqual(matches['0020000D'], { kind: 'any-of', values: ['1.2.3', '1.2.4', '1.2.5'] });
    assert.deepEqual(matches['00080061'], { kind: 'contains-any', patterns: ['CT'] });
    assert.equal(matches['00100010']?.kind, 'person-name');
    assert.ok(query.include !== 'all');
    for (const tag of ['00081030', '00101010', '00080080', '00201208', '00100010']) assert.ok(query.include.has(tag), tag);
    assert.equal(query.include.has('00080060'), false, 'series attributes are not in a study result by default');
  });

  it('reads open date ranges and the scope of the path', () => {
    const query = parseQidoQuery('instance', { StudyDate: '-20201231', PatientBirthDate: '19650312-' }, { studyInstanceUid: '1.2', seriesInstanceUid: '1.2.3' });
    assert.deepEqual(
      query.conditions.map((condition) => [condition.tag, condition.match]),
      [
        ['00080020', { kind: 'date-range', from: undefined, to: '2020-12-31' }],
        ['00100030', { kind: 'date-range', from: '1965-03-12', to: undefined }],
        ['0020000D', { kind: 'equals', value: '1.2' }],
        ['0020000E', { kind: 'equals', value: '1.2.3' }],
      ],
    );
  });

  it('defaults and caps paging', () => {
    assert.equal(parseQidoQuery('study', {}).limit, DEFAULT_LIMIT);
    assert.equal(parseQidoQuery('study', { limit: '999999' }).limit, MAX_RESULTS);
  });

  it('returns but does not match valid attributes it cannot match on, nor lower-level ones', () => {
    const query = parseQidoQuery('study', { Modality: 'CT', PatientAge: '045Y', 'RequestAttributesSequence.RequestedProcedureID': 'X', StudyDescription: '' });
    assert.deepEqual(query.conditions, []);
    assert.deepEqual(query.notMatched, ['Modality', 'PatientAge', 'RequestAttributesSequence.RequestedProcedureID']);
    assert.ok(query.include !== 'all' && query.include.has('00080060') && query.include.has('00081030'));
  });

  it('treats empty values and a lone * as universal matching', () => {
    assert.deepEqual(parseQidoQuery('study', { PatientName: '', AccessionNumber: '*', ModalitiesInStudy: '*' }).conditions, []);
  });

  it('reads orderby keys, descending with -, and refuses keys the level cannot sort by', () => {
    const query = parseQidoQuery('study', { orderby: '-StudyDate,PatientName', includefield: 'NumberOfStudyRelatedInstances' });
    assert.deepEqual(query.orderBy, [
      { tag: '00080020', descending: true },
      { tag: '00100010', descending: false },
    ]);
    assert.deepEqual(parseQidoQuery('series', { orderby: '-00201209' }).orderBy, [{ tag: '00201209', descending: true }]);
    assert.throws(() => parseQidoQuery('study', { orderby: 'SeriesNumber' }), /cannot be ordered by SeriesNumber/);
    assert.throws(() => parseQidoQuery('study', { orderby: 'NumberOfSeriesRelatedInstances' }), /cannot be ordered/);
    assert.throws(() => parseQidoQuery('study', { orderby: 'OtherPatientIDsSequence.PatientID' }), /inside a sequence/);
  });

  it('refuses what is not a valid query, saying why', () => {
    const cases: [Record<string, string | string[]>, RegExp][] = [
      [{ NoSuchKeyword: 'x' }, /unknown query parameter "NoSuchKeyword"/],
      [{ limit: '-1' }, /limit must be a whole number/],
      [{ limit: '0' }, /limit must be at least 1/],
      [{ offset: 'ten' }, /offset must be a whole number/],
      [{ fuzzymatching: 'yes' }, /fuzzymatching must be true or false/],
      [{ includefield: 'Nonsense' }, /unknown includefield "Nonsense"/],
      [{ StudyDate: '2020-01-01' }, /StudyDate: .* is not a date range/],
      [{ StudyDate: '20201301' }, /is not a date/],
      [{ StudyDate: '20201231-20200101' }, /ends before it starts/],
      [{ StudyTime: '25h' }, /is not a time/],
      [{ StudyInstanceUID: '1.2.x' }, /is not a UID/],
      [{ SeriesNumber: 'one' }, /must be an integer/],
      [{ PatientID: ['a', 'b'] }, /PatientID may be given only once/],
    ];
    for (const [parameters, reason] of cases) {
      assert.throws(() => parseQidoQuery('series', parameters), (error: unknown) => error instanceof QidoQueryError && reason.test(error.message), JSON.stringify(parameters));
    }
  });

  it('reads attributes the index does not keep per level from instance metadata, only at the instance level', () => {
    const instance = parseQidoQuery('instance', { includefield: 'WindowCenter,Rows' }, { studyInstanceUid: '1.2', seriesInstanceUid: '1.2.3' });
    assert.deepEqual(metadataTagsToRead('instance', instance.include), ['00281050']);
    assert.equal(metadataTagsToRead('instance', parseQidoQuery('instance', { includefield: 'all' }).include), 'all');
    assert.deepEqual(metadataTagsToRead('study', parseQidoQuery('study', { includefield: 'WindowCenter' }).include), []);
  });
});
