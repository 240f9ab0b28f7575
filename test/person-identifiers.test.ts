import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { makeSecondaryCaptures, PATIENTS, residentIdNumber, STUDIES, type Dataset, type Study } from '../fixtures/generate.ts';
import { dicomDateToIso, firstString } from '../archive/dicom/normalize.ts';
import { parseInstance } from '../archive/dicom/parse.ts';
import type { DicomJsonDataset, DicomJsonPersonName } from '../archive/dicom/types.ts';
import {
  DEFAULT_ISSUER_TABLE,
  extractIdentifiers,
  identifierRuleSchema,
  institutionIdentifierRulesSchema,
  type IdentifierRule,
} from '../archive/person/identifier-extraction.ts';
import { IdentifierProtection } from '../archive/person/identifier-protection.ts';
import { maskIdentifierValue, normaliseIdentifierValue, RESIDENT_ID_NAMESPACE, toPersonIdentifier, type PersonIdentifier } from '../archive/person/identifiers.ts';
import { decideLink, namesAgree, type LinkCandidate } from '../archive/person/link-decision.ts';
import { parseResidentIdNumber } from '../archive/person/resident-id.ts';

const TODAY = new Date('2026-12-05T00:00:00Z');
/** GB 11643-1999's own examples: a woman born 1949-12-31 (check character X) and a man born 1880-01-01. */
const STANDARD_WOMAN = '11010519491231002X';
const STANDARD_MAN = '440524188001010014';
const WANG_ID = PATIENTS.wangAtQingshi.nationalId;

/** The same number with its check character replaced by a wrong one. */
const withWrongCheck = (number: string) => `${number.slice(0, 17)}${number[17] === '0' ? '1' : '0'}`;
const residentId = (value: string): PersonIdentifier => ({ kind: 'resident-id', value, issuer: RESIDENT_ID_NAMESPACE });
const text = (value: string) => ({ vr: 'LO', Value: [value] });
const otherIdsItem = (value: string, issuer?: string): DicomJsonDataset => ({ '00100020': text(value), ...(issuer ? { '00100021': text(issuer) } : {}) });
const withOtherIds = (...items: DicomJsonDataset[]): DicomJsonDataset => ({ '00100020': text('QS0012345'), '00101002': { vr: 'SQ', Value: items } });
const rules = (...input: unknown[]): IdentifierRule[] => institutionIdentifierRulesSchema.parse(input);

describe('resident identity number (GB 11643-1999)', () => {
  it('accepts valid numbers and reads the birth date and sex they encode', () => {
    assert.deepEqual(parseResidentIdNumber(STANDARD_WOMAN, TODAY), { ok: true, number: STANDARD_WOMAN, birthDate: '1949-12-31', sex: 'F', convertedFromLegacy: false });
    assert.deepEqual(parseResidentIdNumber(STANDARD_MAN, TODAY), { ok: true, number: STANDARD_MAN, birthDate: '1880-01-01', sex: 'M', convertedFromLegacy: false });
    const wang = parseResidentIdNumber(WANG_ID, TODAY);
    assert.ok(wang.ok && wang.birthDate === '1965-03-12' && wang.sex === 'M', 'the fixtures’ number for Wang XiaoDong');
  });

  it('accepts exactly one check character for every number (all eleven remainders)', () => {
    const remainders = new Set<string>();
    for (let sequence = 0; sequence < 1000; sequence += 7) {
      const number = residentIdNumber('19880721', String(sequence).padStart(3, '0'));
      remainders.add(number[17]!);
      for (const check of '0123456789X') {
        const result = parseResidentIdNumber(`${number.slice(0, 17)}${check}`, TODAY);
        assert.equal(result.ok, check === number[17], `${number.slice(0, 17)}${check}`);
      }
    }
    assert.equal(remainders.size, 11);
  });

  it('converts a 15-digit number to its 18-character form', () => {
    assert.deepEqual(parseResidentIdNumber('110105491231002', TODAY), { ok: true, number: STANDARD_WOMAN, birthDate: '1949-12-31', sex: 'F', convertedFromLegacy: true });
    assert.deepEqual(parseResidentIdNumber('500199650312031', TODAY), { ok: true, number: WANG_ID, birthDate: '1965-03-12', sex: 'M', convertedFromLegacy: true });
  });

  it('rejects, with the reason, every number that could be mistyped', () => {
    const reasonOf = (value: string) => {
      const result = parseResidentIdNumber(value, TODAY);
      return result.ok ? 'accepted' : result.reason;
    };
    assert.equal(reasonOf(''), 'empty');
    assert.equal(reasonOf('1101051949123100'), 'wrong-length');
    assert.equal(reasonOf('11010519491231002Y'), 'not-digits');
    assert.equal(reasonOf('1101051949123X002'), 'wrong-length');
    assert.equal(reasonOf('11010519491231X02X'), 'not-digits', 'X only in the check position');
    assert.equal(reasonOf('11010549123100X'), 'not-digits', 'a 15-digit number has no check character');
    assert.equal(reasonOf(`99${STANDARD_WOMAN.slice(2)}`), 'unknown-province');
    assert.equal(reasonOf(`00${STANDARD_WOMAN.slice(2)}`), 'unknown-province');
    assert.equal(reasonOf(residentIdNumber('19650230', '031')), 'invalid-birth-date', 'February 30th');
    assert.equal(reasonOf(residentIdNumber('19651301', '031')), 'invalid-birth-date');
    assert.equal(reasonOf('110105490230002'), 'invalid-birth-date', 'also in a legacy number');
    assert.equal(reasonOf(residentIdNumber('20270101', '031')), 'future-birth-date');
    assert.equal(reasonOf(withWrongCheck(STANDARD_WOMAN)), 'wrong-check-digit');
    assert.equal(reasonOf(`${STANDARD_MAN.slice(0, 17)}X`), 'wrong-check-digit');
    assert.equal(reasonOf(`${WANG_ID.slice(0, 14)}${WANG_ID[15]}${WANG_ID[14]}${WANG_ID.slice(16)}`), 'wrong-check-digit', 'two digits swapped');
  });
});

describe('identifier kinds and normalisation', () => {
  it('folds what people type into one form', () => {
    assert.equal(normaliseIdentifierValue(' １１０１０５１９４９１２３１００２ｘ '), STANDARD_WOMAN, 'full-width digits and letter, padding');
    assert.equal(normaliseIdentifierValue('110105 19491231 002x'), STANDARD_WOMAN);
    assert.equal(normaliseIdentifierValue('110105-19491231－002X'), STANDARD_WOMAN, 'ASCII and full-width hyphens');
    assert.equal(normaliseIdentifierValue('110105\u300019491231002X'), STANDARD_WOMAN, 'ideographic space');
    assert.equal(normaliseIdentifierValue('ab-12 cd'), 'AB12CD');
  });

  it('a resident ID always carries the national namespace; a card number its own issuer, which it must have', () => {
    assert.deepEqual(toPersonIdentifier('resident-id', '110105491231002', 'QSXRMYY'), { ok: true, identifier: residentId(STANDARD_WOMAN) });
    assert.deepEqual(toPersonIdentifier('health-card', ' hc-5000 12345 ', 'urn:oid:2.16.156.10011.1.19'), {
      ok: true,
      identifier: { kind: 'health-card', value: 'HC500012345', issuer: '2.16.156.10011.1.19' },
    });
    assert.deepEqual(toPersonIdentifier('medical-insurance', 'CQ500100123', ''), { ok: false, rejection: { kind: 'medical-insurance', reason: 'missing-issuer' } });
    assert.deepEqual(toPersonIdentifier('medical-insurance', '12', 'CQYB'), { ok: false, rejection: { kind: 'medical-insurance', reason: 'malformed' } });
    assert.deepEqual(toPersonIdentifier('health-card', '王小东', 'CQ'), { ok: false, rejection: { kind: 'health-card', reason: 'malformed' } });
    assert.deepEqual(toPersonIdentifier('resident-id', withWrongCheck(WANG_ID), ''), { ok: false, rejection: { kind: 'resident-id', reason: 'wrong-check-digit' } });
    assert.equal(maskIdentifierValue(STANDARD_WOMAN), '**************002X');
  });
});

describe('extracting identifiers from a DICOM dataset', () => {
  it('finds the resident ID in Other Patient IDs by its issuer, as the fixtures and the OID name it', () => {
    for (const issuer of ['CN-RESIDENT-ID', '2.16.156.10011.1.3', 'urn:oid:2.16.156.10011.1.3']) {
      assert.deepEqual(extractIdentifiers(withOtherIds(otherIdsItem(WANG_ID, issuer)), []), { identifiers: [residentId(WANG_ID)], problems: [] }, issuer);
    }
    const viaQualifiers = withOtherIds({ '00100020': text(WANG_ID), '00100024': { vr: 'SQ', Value: [{ '00400032': { vr: 'UT', Value: ['2.16.156.10011.1.3'] }, '00400033': { vr: 'CS', Value: ['ISO'] } }] } });
    assert.deepEqual(extractIdentifiers(viaQualifiers, []).identifiers, [residentId(WANG_ID)], 'the issuer as Universal Entity ID');
    assert.deepEqual(
      extractIdentifiers(withOtherIds(otherIdsItem('HC500012345', '2.16.156.10011.1.19'), otherIdsItem('CQ 5001 0012 3', '2.16.156.10011.1.15')), []).identifiers,
      [
        { kind: 'health-card', value: 'HC500012345', issuer: '2.16.156.10011.1.19' },
        { kind: 'medical-insurance', value: 'CQ500100123', issuer: '2.16.156.10011.1.15' },
      ],
    );
  });

  it('ignores numbers nothing claims as identifiers, and takes its issuer table from configuration', () => {
    const local = withOtherIds(otherIdsItem('QS0012345', 'QSXRMYY'), otherIdsItem(WANG_ID, 'SFZ'));
    assert.deepEqual(extractIdentifiers(local, []), { identifiers: [], problems: [] });
    const region = new Map([...DEFAULT_ISSUER_TABLE, ['SFZ', 'resident-id' as const]]);
    assert.deepEqual(extractIdentifiers(local, [], region).identifiers, [residentId(WANG_ID)]);
    assert.deepEqual(extractIdentifiers({ '00100020': text(WANG_ID), '00100021': text('2.16.156.10011.1.3') }, []).identifiers, [residentId(WANG_ID)], 'Patient ID with Issuer of Patient ID');
  });

  it('reports a value with a wrong check digit and never returns it', () => {
    const result = extractIdentifiers(withOtherIds(otherIdsItem(withWrongCheck(WANG_ID), 'CN-RESIDENT-ID')), [], DEFAULT_ISSUER_TABLE, TODAY);
    assert.deepEqual(result.identifiers, []);
    assert.deepEqual(result.problems, [
      { problem: 'invalid', source: 'other-patient-ids-sequence', rejection: { kind: 'resident-id', reason: 'wrong-check-digit' }, maskedValue: maskIdentifierValue(withWrongCheck(WANG_ID)) },
    ]);
  });

  it('drops both of two different values of one kind, and keeps one found twice', () => {
    const twice = withOtherIds(otherIdsItem(WANG_ID, 'CN-RESIDENT-ID'), otherIdsItem('500199650312031', '2.16.156.10011.1.3'));
    assert.deepEqual(extractIdentifiers(twice, []), { identifiers: [residentId(WANG_ID)], problems: [] }, 'the legacy form of the same number');
    const two = extractIdentifiers(withOtherIds(otherIdsItem(WANG_ID, 'CN-RESIDENT-ID'), otherIdsItem(STANDARD_MAN, 'CN-RESIDENT-ID')), []);
    assert.deepEqual(two.identifiers, []);
    assert.deepEqual(two.problems, [{ problem: 'conflicting-values', kind: 'resident-id', issuer: RESIDENT_ID_NAMESPACE, maskedValues: [maskIdentifierValue(WANG_ID), maskIdentifierValue(STANDARD_MAN)] }]);
  });

  it('applies an institution rule: the ID number in Other Patient IDs without an issuer, or of a named one', () => {
    const bare = withOtherIds(otherIdsItem(WANG_ID), otherIdsItem('QS0012345', 'QSXRMYY'));
    assert.deepEqual(extractIdentifiers(bare, []).identifiers, [], 'no rule, no issuer: not an identifier');
    assert.deepEqual(extractIdentifiers(bare, rules({ source: 'other-patient-ids', kind: 'resident-id' })), { identifiers: [residentId(WANG_ID)], problems: [] });
    const retired: DicomJsonDataset = { '00101000': { vr: 'LO', Value: ['QS-LOCAL-1', WANG_ID] } };
    const fromRetired = extractIdentifiers(retired, rules({ source: 'other-patient-ids', kind: 'resident-id' }));
    assert.deepEqual(fromRetired.identifiers, [residentId(WANG_ID)], 'the retired Other Patient IDs values');
    assert.equal(fromRetired.problems.length, 1, 'the local number the rule claimed is reported');
    const named = withOtherIds(otherIdsItem(WANG_ID, 'QS-SFZ'), otherIdsItem('QS0012345', 'QSXRMYY'));
    assert.deepEqual(extractIdentifiers(named, rules({ source: 'other-patient-ids', kind: 'resident-id', issuerOfPatientId: 'QS-SFZ' })), { identifiers: [residentId(WANG_ID)], problems: [] });
  });

  it('applies an institution rule: the number in Patient ID after a prefix', () => {
    const rule = rules({ source: 'patient-id', kind: 'resident-id', prefix: 'SFZ' });
    assert.deepEqual(extractIdentifiers({ '00100020': text(`SFZ${WANG_ID}`) }, rule).identifiers, [residentId(WANG_ID)]);
    assert.deepEqual(extractIdentifiers({ '00100020': text('QS0012345') }, rule), { identifiers: [], problems: [] }, 'a hospital number without the prefix');
    const wrong = extractIdentifiers({ '00100020': text(`SFZ${withWrongCheck(WANG_ID)}`) }, rule, DEFAULT_ISSUER_TABLE, TODAY);
    assert.deepEqual([wrong.identifiers, wrong.problems.map((problem) => problem.problem === 'invalid' && problem.rejection.reason)], [[], ['wrong-check-digit']]);
    const insurance = rules({ source: 'patient-id', kind: 'medical-insurance', prefix: 'YB', issuerOfPatientId: 'CQYB', issuer: 'CQ-MEDICAL-INSURANCE' });
    assert.deepEqual(extractIdentifiers({ '00100020': text('YB500100123'), '00100021': text('CQYB') }, insurance).identifiers, [
      { kind: 'medical-insurance', value: '500100123', issuer: 'CQ-MEDICAL-INSURANCE' },
    ]);
    assert.deepEqual(extractIdentifiers({ '00100020': text('YB500100123'), '00100021': text('OTHER') }, insurance).identifiers, [], 'another issuer');
  });

  it('validates rules where they enter', () => {
    assert.ok(identifierRuleSchema.safeParse({ source: 'patient-id', kind: 'resident-id', prefix: 'SFZ' }).success);
    const errorPaths = (input: unknown) => {
      const result = identifierRuleSchema.safeParse(input);
      return result.success ? [] : result.error.issues.map((issue) => issue.path.join('.'));
    };
    assert.deepEqual(errorPaths({ source: 'patient-id', kind: 'health-card' }), ['issuer'], 'a card rule names its issuer');
    assert.deepEqual(errorPaths({ source: 'dicom-tag', kind: 'resident-id' }), ['source']);
    assert.deepEqual(errorPaths({ source: 'patient-id', kind: 'passport' }), ['kind']);
    assert.deepEqual(errorPaths({ source: 'patient-id', kind: 'resident-id', prefix: '' }), ['prefix']);
  });

  it('works on what the parser makes of a fixture hospital’s instance', () => {
    const parsed = (study: Study, overrides: Dataset = {}) => {
      const [instance] = makeSecondaryCaptures({ study, seriesNumber: 1, count: 1, overrides });
      return parseInstance(instance!.bytes).metadata;
    };
    assert.deepEqual(extractIdentifiers(parsed(STUDIES.wangPriorCt), []), { identifiers: [residentId(WANG_ID)], problems: [] });
    const mistyped = parsed(STUDIES.wangCurrentCt, { OtherPatientIDsSequence: [{ PatientID: withWrongCheck(WANG_ID), IssuerOfPatientID: 'CN-RESIDENT-ID', TypeOfPatientID: 'TEXT' }] });
    assert.deepEqual(extractIdentifiers(mistyped, []).identifiers, []);
    const prefixed = parsed(STUDIES.zhangMr, { PatientID: `SFZ${STANDARD_WOMAN.slice(0, 17)}x`, OtherPatientIDsSequence: undefined });
    assert.deepEqual(extractIdentifiers(prefixed, rules({ source: 'patient-id', kind: 'resident-id', prefix: 'SFZ' })).identifiers, [residentId(STANDARD_WOMAN)]);
  });
});

describe('matching-safe storage of identifiers', () => {
  const keys = { matching: randomBytes(32), encryption: randomBytes(32) };
  const protection = new IdentifierProtection(keys);
  const wang = residentId(WANG_ID);

  it('hashes deterministically under its key, and per kind and namespace', () => {
    assert.deepEqual(protection.matchHash(wang), new IdentifierProtection(keys).matchHash(residentId(WANG_ID)));
    assert.equal(protection.matchHash(wang).length, 32);
    assert.notDeepEqual(protection.matchHash(wang), protection.matchHash(residentId(STANDARD_MAN)));
    assert.notDeepEqual(protection.matchHash(wang), new IdentifierProtection({ ...keys, matching: randomBytes(32) }).matchHash(wang), 'another key, another hash');
    const card = { kind: 'health-card' as const, value: 'HC500012345', issuer: 'CQ' };
    assert.notDeepEqual(protection.matchHash(card), protection.matchHash({ ...card, issuer: 'SC' }));
    assert.notDeepEqual(protection.matchHash(card), protection.matchHash({ ...card, kind: 'medical-insurance' }));
  });

  it('encrypts with a fresh nonce each time and opens only what it sealed, where it was sealed', () => {
    const first = protection.seal(wang);
    const second = protection.seal(wang);
    assert.notDeepEqual(first, second);
    assert.ok(!first.toString('latin1').includes(WANG_ID), 'no plain text in the sealed bytes');
    assert.equal(protection.open(first, wang), WANG_ID);
    assert.equal(protection.open(second, wang), WANG_ID);
    const tampered = Buffer.from(first);
    tampered[tampered.length - 1]! ^= 1;
    assert.throws(() => protection.open(tampered, wang), /authenticate/);
    assert.throws(() => protection.open(first, { kind: 'health-card', issuer: RESIDENT_ID_NAMESPACE }), /authenticate/, 'moved to another kind');
    assert.throws(() => new IdentifierProtection({ ...keys, encryption: randomBytes(32) }).open(first, wang), /authenticate/, 'another key');
    assert.throws(() => protection.open(first.subarray(0, 20), wang), /format 1/);
  });

  it('refuses short or shared keys', () => {
    assert.throws(() => new IdentifierProtection({ matching: randomBytes(16), encryption: randomBytes(32) }), /32 bytes/);
    assert.throws(() => new IdentifierProtection({ matching: keys.matching, encryption: keys.matching }), /differ/);
  });
});

describe('link decisions', () => {
  const name = (alphabetic: string, ideographic?: string): DicomJsonPersonName => ({ Alphabetic: alphabetic, ...(ideographic ? { Ideographic: ideographic } : {}) });
  const wangAt = (changes: Partial<LinkCandidate> = {}): LinkCandidate => ({ name: name('Wang^XiaoDong', '王^小东'), birthDate: '1965-03-12', sex: 'M', identifiers: [residentId(WANG_ID)], ...changes });

  it('compares Chinese names on the ideographic group, else the alphabetic, ignoring case, width and carets', () => {
    assert.equal(namesAgree(name('Wang^XiaoDong', '王^小东'), name('WANG^XIAODONG', '王小东')), true);
    assert.equal(namesAgree(name('Wang^XiaoDong', '王^小东'), name('Wang^XiaoDong', '王^晓东')), false, 'same pinyin, other characters');
    assert.equal(namesAgree(name('Wang^XiaoDong', '王^小东'), name('王小东')), true, 'Chinese written into the first group');
    assert.equal(namesAgree(name('Wang^XiaoDong', '王^小东'), name('ＷＡＮＧ^xiaodong')), true, 'only one side has characters');
    assert.equal(namesAgree(name('Wang^XiaoDong'), name('Wang^Xiaodan')), false);
    assert.equal(namesAgree(name('王小东'), name('Wang^XiaoDong')), null, 'nothing to compare');
    assert.equal(namesAgree(null, name('Wang^XiaoDong')), null);
  });

  it('links two records that share a strong identifier and agree', () => {
    assert.deepEqual(decideLink(wangAt(), wangAt({ name: name('王小东') })), { decision: 'link', reason: 'shared-identifier', shared: ['resident-id'] });
    assert.deepEqual(decideLink(wangAt(), wangAt({ birthDate: null, sex: 'O', name: null })), { decision: 'link', reason: 'shared-identifier', shared: ['resident-id'] }, 'missing data does not contradict');
    const card = { kind: 'health-card' as const, value: 'HC500012345', issuer: 'CQ' };
    assert.deepEqual(decideLink(wangAt({ identifiers: [card] }), wangAt({ identifiers: [residentId(WANG_ID), card] })), { decision: 'link', reason: 'shared-identifier', shared: ['health-card'] });
  });

  it('only suggests a shared identifier that something contradicts', () => {
    const conflictsOf = (a: LinkCandidate, b: LinkCandidate) => {
      const decision = decideLink(a, b);
      assert.equal(decision.decision, 'suggest');
      return decision.decision === 'suggest' && decision.reason === 'identifier-conflict' ? decision.conflicts : [];
    };
    assert.deepEqual(conflictsOf(wangAt(), wangAt({ name: name('Li^Ji', '李^𠮷') })), ['name']);
    assert.deepEqual(conflictsOf(wangAt(), wangAt({ birthDate: '1965-03-21' })), ['birth-date', 'birth-date-not-in-resident-id']);
    assert.deepEqual(conflictsOf(wangAt(), wangAt({ sex: 'F' })), ['sex', 'sex-not-in-resident-id']);
    assert.deepEqual(conflictsOf(wangAt({ birthDate: '1956-03-12' }), wangAt({ birthDate: null })), ['birth-date-not-in-resident-id'], 'the ID says otherwise');
    const card = { kind: 'health-card' as const, value: 'HC500012345', issuer: 'CQ' };
    assert.deepEqual(conflictsOf(wangAt({ identifiers: [residentId(WANG_ID), card] }), wangAt({ identifiers: [residentId(STANDARD_MAN), card] })), ['different-resident-id', 'birth-date-not-in-resident-id'], 'both men');
  });

  it('suggests the same name, birth date and sex without a shared identifier, and nothing less', () => {
    const zhang = (changes: Partial<LinkCandidate> = {}): LinkCandidate => ({ name: name('Zhang^Wei', '张^伟'), birthDate: '1980-05-01', sex: 'M', identifiers: [], ...changes });
    assert.deepEqual(decideLink(zhang(), zhang({ name: name('张伟') })), { decision: 'suggest', reason: 'same-name-birth-date-sex' });
    assert.deepEqual(decideLink(zhang(), zhang({ identifiers: [residentId(STANDARD_MAN)] })), { decision: 'suggest', reason: 'same-name-birth-date-sex' }, 'one side has an ID');
    for (const other of [zhang({ birthDate: null }), zhang({ sex: 'O' }), zhang({ sex: 'F' }), zhang({ name: name('Zhang^Wei', '章^伟') }), zhang({ name: name('张伟'), birthDate: '1980-05-02' })]) {
      assert.deepEqual(decideLink(zhang(), other), { decision: 'none', reason: 'no-match' });
    }
    assert.deepEqual(decideLink(zhang({ identifiers: [residentId(WANG_ID)] }), zhang({ identifiers: [residentId(STANDARD_MAN)] })), { decision: 'none', reason: 'different-resident-id' });
  });

  it('links the fixtures’ Wang at Qingshi and at Yunxi, and not when one number is mistyped', () => {
    const candidate = (study: Study, overrides: Dataset = {}): LinkCandidate => {
      const [instance] = makeSecondaryCaptures({ study, seriesNumber: 1, count: 1, overrides });
      const metadata = parseInstance(instance!.bytes).metadata;
      return {
        name: (metadata['00100010']?.Value?.[0] as DicomJsonPersonName | undefined) ?? null,
        birthDate: dicomDateToIso(firstString(metadata, '00100030')),
        sex: firstString(metadata, '00100040'),
        identifiers: extractIdentifiers(metadata, []).identifiers,
      };
    };
    assert.notEqual(STUDIES.wangPriorCt.institution.code, STUDIES.wangCurrentCt.institution.code);
    assert.deepEqual(decideLink(candidate(STUDIES.wangPriorCt), candidate(STUDIES.wangCurrentCt)), { decision: 'link', reason: 'shared-identifier', shared: ['resident-id'] });
    const mistyped = candidate(STUDIES.wangCurrentCt, { OtherPatientIDsSequence: [{ PatientID: withWrongCheck(WANG_ID), IssuerOfPatientID: 'CN-RESIDENT-ID' }] });
    assert.deepEqual(decideLink(candidate(STUDIES.wangPriorCt), mistyped), { decision: 'suggest', reason: 'same-name-birth-date-sex' }, 'a review, never a link');
  });
});
