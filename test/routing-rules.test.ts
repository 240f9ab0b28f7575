import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { afterFailure, matchesRule, wildcardMatches, type ArrivedInstance, type RoutingCriteria } from '../archive/routing/routing-rules.ts';
import { destinationBody, destinationOptions, dicomwebNodeBody, routingRuleBody, sendFinished, waitedMinutes } from '../viewer/src/logic/routing.ts';

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

describe('routing: the viewer\'s forms and figures (pure)', () => {
  it('a rule form needs a name and a destination; criteria left empty are not sent; modalities split and upper-cased', () => {
    assert.deepEqual(routingRuleBody({ name: ' CT/MR ', destination: 'peer:READING_WS', modalities: 'ct, MR，dx', sourceInstitution: 'COUNTY_A', callingAeTitle: '', studyDescription: ' ' }), {
      ok: true,
      body: { name: 'CT/MR', modalities: ['CT', 'MR', 'DX'], destination: { dicomPeer: 'READING_WS' }, sourceInstitution: 'COUNTY_A' },
    });
    assert.deepEqual(routingRuleBody({ name: '', destination: '', modalities: 'C-T' }), {
      ok: false,
      errors: [
        { field: 'name', problem: 'admin.invalid.name' },
        { field: 'destination', problem: 'routing.invalid.destination' },
        { field: 'modalities', problem: 'routing.invalid.modalities' },
      ],
    });
    assert.deepEqual(destinationBody('node:city-cloud'), { dicomwebNode: 'city-cloud' });
  });

  it('offers only peers with an address, then DICOMweb nodes', () => {
    const peer = (aeTitle: string, host: string | null, port: number | null) => ({ id: aeTitle, institutionId: '1', aeTitle, allowedNetworks: [], host, port, tlsRequired: false, characterSet: null });
    assert.deepEqual(
      destinationOptions([peer('WS', '10.0.0.5', 104), peer('SENDER_ONLY', null, null)], [{ id: '1', name: 'city-cloud', url: 'https://city/dicom-web', hasToken: true, createdAt: '' }]).map((option) => option.value),
      ['peer:WS', 'node:city-cloud'],
    );
  });

  it('a DICOMweb node form checks the name and URL; the queue\'s oldest wait in minutes', () => {
    assert.equal(dicomwebNodeBody({ name: 'city cloud', url: 'ftp://x' }).ok, false);
    assert.deepEqual(dicomwebNodeBody({ name: 'city-cloud', url: 'https://city/dicom-web', bearerToken: '' }), { ok: true, body: { name: 'city-cloud', url: 'https://city/dicom-web' } });
    assert.equal(waitedMinutes('2026-12-06T03:00:00Z', new Date('2026-12-06T03:07:59Z')), 7);
    assert.equal(waitedMinutes(null, new Date()), 0);
    assert.equal(sendFinished({ id: '1', studyInstanceUid: '1', seriesInstanceUid: null, destination: 'dicom:1', requestedBy: 'a', requestedAt: '', total: 3, sent: 2, failed: 1, pending: 0, inFlight: 0 }), true);
  });
});
