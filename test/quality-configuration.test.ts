import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import type { Role } from '../archive/access/policy.ts';
import { DEFAULT_QC_CONFIGURATION, type QcConfiguration } from '../archive/quality/qc-scales.ts';
import type { CentreQcConfiguration, QcCatalogue } from '../archive/quality/quality-service.ts';
import { jsonApi, type Call } from './support/reading-centre.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * A QC centre's configuration (GET/PUT /api/admin/quality-configuration) against the running system:
 * the centre's institution administrator keeps it, zod's reasons come back as a 400, a change is
 * audited, and the centre's graders grade on it at once.
 */
const USERS: { username: string; role: Role; institution?: string }[] = [
  { username: 'rc-admin', role: 'institution_admin', institution: 'CITY_CENTRE' },
  { username: 'rc-qc', role: 'qc_staff', institution: 'CITY_CENTRE' },
  { username: 'qs-admin', role: 'institution_admin', institution: 'QINGSHI' },
  { username: 'rc-reader', role: 'radiologist', institution: 'CITY_CENTRE' },
  { username: 'region-admin', role: 'system_admin' },
];

describe('QC configuration administration', () => {
  let system: TestSystem;
  let api: Call;
  const tokens = new Map<string, string>();
  const route = '/api/admin/quality-configuration';

  before(async () => {
    system = await startTestSystem();
    api = jsonApi(system, tokens);
    await system.administration.createRegion(COMMAND_LINE_ACTOR, { code: 'QINGHE', name: '清河市', level: 'city' });
    await system.administration.createInstitution(COMMAND_LINE_ACTOR, { code: 'CITY_CENTRE', name: '清河市影像诊断中心', kind: 'reading_centre', regionCode: 'QINGHE' });
    await system.administration.createInstitution(COMMAND_LINE_ACTOR, { code: 'QINGSHI', name: '青石县人民医院', kind: 'hospital', regionCode: 'QINGHE' });
    for (const { username, role, institution } of USERS) {
      await system.administration.createUser(COMMAND_LINE_ACTOR, { username, displayName: username, role, institutionCode: institution });
      tokens.set(username, (await system.administration.createToken(COMMAND_LINE_ACTOR, { username, label: 'quality-configuration' })).token);
    }
  });
  after(() => system?.shutdown());

  it('answers the shipped defaults until the centre saves its own', async () => {
    const answer = await api<CentreQcConfiguration>('rc-admin', 'GET', route);
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    assert.equal(answer.json.custom, false);
    assert.deepEqual(answer.json.configuration, DEFAULT_QC_CONFIGURATION);
  });

  it('refuses an invalid configuration with zod’s reasons, and stores nothing', async () => {
    const scales = DEFAULT_QC_CONFIGURATION.scales.map((scale) => (scale.id === 'ct' ? { ...scale, modalities: ['DX'] } : scale));
    const twoScales = await api<{ detail: string }>('rc-admin', 'PUT', route, { scales, defects: [] });
    assert.equal(twoScales.status, 400);
    assert.match(twoScales.json.detail, /^scales: a modality is graded on two scales$/);
    const unknownCategory = await api<{ detail: string }>('rc-admin', 'PUT', route, { scales: DEFAULT_QC_CONFIGURATION.scales, defects: [{ code: 'x', category: 'smell', label: { zh: '异味', en: 'Smell' }, veto: false }] });
    assert.equal(unknownCategory.status, 400);
    assert.match(unknownCategory.json.detail, /^defects\.0\.category: /);
    assert.equal((await api<CentreQcConfiguration>('rc-admin', 'GET', route)).json.custom, false);
  });

  it('stores a valid one, audits the change, and the centre’s graders grade on it', async () => {
    const configuration: QcConfiguration = {
      scales: DEFAULT_QC_CONFIGURATION.scales,
      defects: [...DEFAULT_QC_CONFIGURATION.defects, { code: 'grid-lines', category: 'artefact', label: { zh: '滤线栅伪影', en: 'Grid lines' }, veto: false, modalities: ['DX'] }],
    };
    const saved = await api<CentreQcConfiguration>('rc-admin', 'PUT', route, configuration);
    assert.equal(saved.status, 200, JSON.stringify(saved.json));
    assert.equal(saved.json.custom, true);
    const catalogue = await api<QcCatalogue>('rc-qc', 'GET', '/api/quality/scales/DX');
    assert.ok(catalogue.json.defects.some((defect) => defect.code === 'grid-lines'));
    const { rows } = await system.runtime.db.pool.query<{ user_name: string; institution_id: string; detail: { change: string; defects: number } }>(
      "SELECT user_name, institution_id::text, detail FROM audit_events WHERE event_type = 'admin-change' AND detail->>'change' = 'qc-configuration'",
    );
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.user_name, 'rc-admin');
    assert.equal(rows[0]!.detail.defects, configuration.defects.length);
    // Another institution's administrator keeps their own: the centre's is not theirs to see.
    assert.equal((await api<CentreQcConfiguration>('qs-admin', 'GET', route)).json.custom, false);
  });

  it('is refused to those who do not administer a centre', async () => {
    assert.equal((await api('rc-reader', 'GET', route)).status, 403);
    assert.equal((await api('rc-qc', 'PUT', route, DEFAULT_QC_CONFIGURATION)).status, 403);
    // A system administrator belongs to no centre.
    assert.equal((await api('region-admin', 'GET', route)).status, 403);
  });
});
