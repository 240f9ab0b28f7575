import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { afterFailure, matchesRule, wildcardMatches, type ArrivedInstance, type RoutingCriteria } from '../archive/routing/routing-rules.ts';

const any: RoutingCriteria = { sourceInstitutionId: null, callingAeTitle: null, modalities: [], studyDescription: null, attribute: null };
const ct: ArrivedInstance = {
  sourceInstitutionId: '7',
  callingAeTitle: 'COUNTY_A_PACS',
  metadata: {
    '00080060': { vr: 'CS', Value: ['CT'] },
    '00081030': { vr: 'LO', Value: ['胸部 CT 平扫 '] },
    '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Wang^Fang', Ideographic: '王^芳' }] },
    '00180050': { vr: 'DS', Value: [1.25] },
  },
};

describe('routing rules: matching (pure)', () => {
  it('a rule with no criteria matches every instance', () => {
    assert.equal(matchesRule(any, ct), true);
    assert.equal(matchesRule(any, { ...ct, callingAeTitle: null, metadata: {} }), true);
  });

  it('source institution: only that institution', () => {
    assert.equal(matchesRule({ ...any, sourceInstitutionId: '7' }, ct), true);
    assert.equal(matchesRule({ ...any, sourceInstitutionId: '8' }, ct), false);
  });

  it('calling AE title by wildcard; an instance not received over DIMSE has none and does not match', () => {
    assert.equal(matchesRule({ ...any, callingAeTitle: 'COUNTY_?_*' }, ct), true);
    assert.equal(matchesRule({ ...any, callingAeTitle: 'CITY*' }, ct), false);
    assert.equal(matchesRule({ ...any, callingAeTitle: '*' }, { ...ct, callingAeTitle: null }), false);
  });

  it('modalities: any of the listed, case ignored; an instance without Modality does not match', () => {
    assert.equal(matchesRule({ ...any, modalities: ['MR', 'CT'] }, ct), true);
    assert.equal(matchesRule({ ...any, modalities: ['ct'] }, ct), true);
    assert.equal(matchesRule({ ...any, modalities: ['MR', 'DX'] }, ct), false);
    assert.equal(matchesRule({ ...any, modalities: ['CT'] }, { ...ct, metadata: {} }), false);
  });

  it('study description by wildcard, trailing padding ignored, Chinese text literal', () => {
    assert.equal(matchesRule({ ...any, studyDescription: '胸部*' }, ct), true);
    assert.equal(matchesRule({ ...any, studyDescription: '*ct*' }, ct), true);
    assert.equal(matchesRule({ ...any, studyDescription: '头颅*' }, ct), false);
  });

  it('any attribute: person names by each group, numbers in decimal', () => {
    assert.equal(matchesRule({ ...any, attribute: { tag: '00100010', pattern: '王*' } }, ct), true);
    assert.equal(matchesRule({ ...any, attribute: { tag: '00100010', pattern: 'wang^*' } }, ct), true);
    assert.equal(matchesRule({ ...any, attribute: { tag: '00180050', pattern: '1.25' } }, ct), true);
    assert.equal(matchesRule({ ...any, attribute: { tag: '00180050', pattern: '1?25' } }, ct), true);
    assert.equal(matchesRule({ ...any, attribute: { tag: '00200011', pattern: '*' } }, ct), false);
  });

  it('every criterion set must hold', () => {
    const countyCtMr: RoutingCriteria = { ...any, sourceInstitutionId: '7', modalities: ['CT', 'MR'] };
    assert.equal(matchesRule(countyCtMr, ct), true);
    assert.equal(matchesRule({ ...countyCtMr, studyDescription: '头颅*' }, ct), false);
  });

  it('wildcards: regular-expression characters in a pattern are literal', () => {
    assert.equal(wildcardMatches('A.B', 'A.B'), true);
    assert.equal(wildcardMatches('A.B', 'AXB'), false);
    assert.equal(wildcardMatches('(CT)+', '(CT)+'), true);
    assert.equal(wildcardMatches('?', '王'), true, 'one character, not one UTF-16 unit');
  });
});

describe('routing rules: retries and dead letters (pure)', () => {
  const policy = { retryBaseMs: 10_000, retryMaxMs: 60_000, maxAttempts: 5 };
  it('doubles from the base, capped, until the last attempt', () => {
    assert.deepEqual([1, 2, 3, 4].map((attempts) => afterFailure(attempts, policy)), [
      { dead: false, retryInMs: 10_000 },
      { dead: false, retryInMs: 20_000 },
      { dead: false, retryInMs: 40_000 },
      { dead: false, retryInMs: 60_000 },
    ]);
    assert.deepEqual(afterFailure(5, policy), { dead: true });
    assert.deepEqual(afterFailure(1, { ...policy, maxAttempts: 1 }), { dead: true });
  });
});
