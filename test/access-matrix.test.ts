import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import type { Role } from '../archive/access/policy.ts';
import { makeSecondaryCaptures, STUDIES, type Study } from '../fixtures/generate.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * The authorisation matrix: every role × every study's institution × every patient-data endpoint,
 * with and without a stated purpose, plus the search, store, administration and audit endpoints.
 * Allowed cases answer 200 with the data; forbidden ones 401/403, and a study outside the caller's
 * reach is indistinguishable from one never stored (same 404, same body, no count).
 *
 * The network: city 清河市 ⊃ district 青石区 ⊃ {Qingshi hospital, Yunxi hospital}; a county elsewhere
 * holds Nanling hospital; the city's reading centre covers the city. Wang XiaoDong was scanned at
 * Qingshi (prior CT) and Yunxi (current CT) — one person by his resident ID; Tao at Nanling.
 */
type StudyKey = 'prior' | 'current' | 'tao';
type Principal = Role | 'anonymous';

interface StoredStudy {
  study: string;
  series: string;
  instance: string;
}

const PRINCIPALS: { name: Principal; username?: string; institution?: string }[] = [
  { name: 'anonymous' },
  { name: 'system_admin', username: 'm-sysadmin' },
  { name: 'institution_admin', username: 'm-qs-admin', institution: 'QINGSHI' },
  { name: 'radiologist', username: 'm-qs-radiologist', institution: 'QINGSHI' },
  { name: 'referring_doctor', username: 'm-qs-referrer', institution: 'QINGSHI' },
  { name: 'qc_staff', username: 'm-rc-qc', institution: 'READING_CENTRE' },
  { name: 'auditor', username: 'm-auditor' },
];

/** Which studies a principal may open, with and without a stated purpose: the policy, written out by hand. */
function expectedVisible(principal: Principal, withPurpose: boolean): Set<StudyKey> {
  switch (principal) {
    case 'system_admin':
      return new Set(['prior', 'current', 'tao']);
    case 'radiologist':
    case 'referring_doctor':
      // Qingshi's own study; with a purpose also the same person's study at Yunxi; never Tao's.
      return new Set(withPurpose ? ['prior', 'current'] : ['prior']);
    case 'qc_staff':
      // The reading centre covers the city's hospitals; QC does not widen by purpose.
      return new Set(['prior', 'current']);
    default:
      return new Set();
  }
}

const READ_ROLES = new Set<Principal>(['system_admin', 'radiologist', 'referring_doctor', 'qc_staff']);

describe('authorisation matrix: role × scope × endpoint', () => {
  let system: TestSystem;
  const tokens = new Map<Principal, string>();
  const stored = new Map<StudyKey, StoredStudy>();
  let neverStored: string;

  const call = (principal: Principal, path: string, init: RequestInit & { purpose?: string } = {}) => {
    const headers = new Headers(init.headers);
    const token = tokens.get(principal);
    // The harness's fetch adds the test administrator's token only when none is given: an anonymous call sends an empty one.
    headers.set('authorization', token ? `Bearer ${token}` : '');
    if (init.purpose) headers.set('x-purpose-of-use', encodeURIComponent(init.purpose));
    return system.fetch(`${system.httpUrl}${path}`, { ...init, headers });
  };

  before(async () => {
    system = await startTestSystem();
    const { administration } = system;
    const actor = COMMAND_LINE_ACTOR;
    await administration.createRegion(actor, { code: 'QINGHE', name: '清河市', level: 'city' });
    await administration.createRegion(actor, { code: 'QINGSHI_DISTRICT', name: '青石区', level: 'district', parentCode: 'QINGHE' });
    await administration.createRegion(actor, { code: 'NANLING_COUNTY', name: '南岭县', level: 'county' });
    const institutions: Record<string, string> = {};
    for (const [code, name, kind, regionCode] of [
      ['QINGSHI', '青石县人民医院', 'hospital', 'QINGSHI_DISTRICT'],
      ['YUNXI', '云溪镇卫生院', 'hospital', 'QINGSHI_DISTRICT'],
      ['NANLING', '南岭县中医院', 'hospital', 'NANLING_COUNTY'],
      ['READING_CENTRE', '清河市影像诊断中心', 'reading_centre', 'QINGHE'],
    ] as const) {
      institutions[code] = (await administration.createInstitution(actor, { code, name, kind, regionCode })).id;
    }
    for (const { name, username, institution } of PRINCIPALS) {
      if (!username) continue;
      await administration.createUser(actor, { username, displayName: username, role: name as Role, institutionCode: institution });
      tokens.set(name, (await administration.createToken(actor, { username, label: 'matrix' })).token);
    }
    const ingestStudy = async (key: StudyKey, study: Study, institution: string) => {
      const [instance] = [...makeSecondaryCaptures({ study, count: 1, seriesNumber: 80 })];
      const outcome = await system.runtime.ingest.ingest({ part10: instance!.bytes }, { via: 'import', name: 'matrix', institutionId: institutions[institution]! });
      stored.set(key, { study: outcome.parsed.studyInstanceUid, series: outcome.parsed.seriesInstanceUid, instance: outcome.parsed.sopInstanceUid });
    };
    await ingestStudy('prior', STUDIES.wangPriorCt, 'QINGSHI');
    await ingestStudy('current', STUDIES.wangCurrentCt, 'YUNXI');
    await ingestStudy('tao', STUDIES.taoDx, 'NANLING');
    await system.runtime.queue.whenIdle();
    neverStored = '2.25.111111111111111111111111111111';
  });
  after(() => system?.shutdown());

  let auditHighWater = 0;
  const newestAuditEvent = async () => {
    const { rows } = await system.runtime.db.pool.query<{ id: number; event_type: string; study_uids: string[]; detail: { route?: string } }>(
      'SELECT id::int, event_type, study_uids, detail FROM audit_events ORDER BY id DESC LIMIT 1',
    );
    return rows[0];
  };

  /** Every endpoint that reads one study, with what a masked role may open. */
  const studyEndpoints = (s: StoredStudy) => [
    { name: 'QIDO series of study', path: `/dicom-web/studies/${s.study}/series`, maskedAllowed: true },
    { name: 'WADO-RS study metadata', path: `/dicom-web/studies/${s.study}/metadata`, maskedAllowed: true },
    { name: 'WADO-RS instance', path: `/dicom-web/studies/${s.study}/series/${s.series}/instances/${s.instance}`, accept: 'multipart/related; type="application/dicom"; transfer-syntax=*', maskedAllowed: false },
    { name: 'WADO-RS frames', path: `/dicom-web/studies/${s.study}/series/${s.series}/instances/${s.instance}/frames/1`, accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=*', maskedAllowed: true },
    { name: 'WADO-RS rendered', path: `/dicom-web/studies/${s.study}/series/${s.series}/instances/${s.instance}/rendered`, accept: 'image/png', maskedAllowed: true },
    { name: 'WADO-RS thumbnail', path: `/dicom-web/studies/${s.study}/thumbnail`, accept: 'image/jpeg', maskedAllowed: true },
    { name: 'WADO-URI', path: `/wado?requestType=WADO&studyUID=${s.study}&seriesUID=${s.series}&objectUID=${s.instance}&contentType=application%2Fdicom`, maskedAllowed: false },
    { name: 'priors', path: `/api/studies/${s.study}/priors`, maskedAllowed: true },
  ];

  it('enforces the same policy on every patient-data endpoint for every role, study and purpose', async (t) => {
    let cases = 0;
    for (const { name: principal } of PRINCIPALS) {
      for (const withPurpose of [false, true]) {
        const visible = expectedVisible(principal, withPurpose);
        for (const [key, study] of stored) {
          for (const endpoint of studyEndpoints(study)) {
            cases++;
            const response = await call(principal, endpoint.path, { headers: endpoint.accept ? { Accept: endpoint.accept } : {}, purpose: withPurpose ? '对比既往检查 comparison with priors' : undefined });
            const body = Buffer.from(await response.arrayBuffer());
            const label = `${principal}${withPurpose ? ' +purpose' : ''} → ${endpoint.name} of ${key}`;
            let expected: number;
            if (principal === 'anonymous') expected = 401;
            else if (!READ_ROLES.has(principal)) expected = 403;
            else if (!visible.has(key)) expected = 404;
            else if (principal === 'qc_staff' && !endpoint.maskedAllowed) expected = 403;
            else expected = 200;
            assert.equal(response.status, expected, `${label}: ${body.toString('utf8', 0, 300)}`);
            if (expected === 404) {
              // Exactly what a study never stored gets: nothing says this one exists.
              const control = await call(principal, endpoint.path.replaceAll(study.study, neverStored), { headers: endpoint.accept ? { Accept: endpoint.accept } : {} });
              assert.equal(control.status, 404, `${label}: control`);
              assert.equal(body.toString().replaceAll(study.study, neverStored), await control.text(), `${label}: the 404 is the same as for a study never stored`);
            }
            if (expected !== 200) {
              for (const other of stored.values()) assert.ok(!body.includes(other.series) && !body.includes(other.instance), `${label}: no UID leaks in a refusal`);
            }
            if (expected === 200) {
              // Served only once audited: the event naming this study is committed before the answer arrives.
              const event = await newestAuditEvent();
              assert.ok(event && event.id > auditHighWater, `${label}: no audit event for a patient-data answer`);
              assert.ok(event.study_uids.includes(study.study), `${label}: the audit event names the study (${event.study_uids.join(',')})`);
              auditHighWater = event.id;
            }
            if (expected === 200 && principal === 'qc_staff' && endpoint.name === 'WADO-RS study metadata') {
              const metadata = JSON.parse(body.toString()) as Record<string, { Value?: unknown[] }>[];
              assert.deepEqual(metadata[0]!['00100010']?.Value, [{ Alphabetic: '***' }], 'QC staff see a masked name');
              assert.equal(metadata[0]!['00100030'], undefined, 'and no birth date');
            }
            if (expected === 200 && endpoint.name === 'priors') {
              // The priors list obeys the same visibility: only studies the caller may open.
              const priors = (JSON.parse(body.toString()) as { study: Record<string, { Value?: string[] }> }[]).map((prior) => prior.study['0020000D']!.Value![0]!);
              // Wang's two studies are each other's priors; Tao is another person.
              const samePerson = key === 'tao' ? [] : (['prior', 'current'] as const).filter((other) => other !== key);
              const expectedPriors = samePerson.filter((other) => visible.has(other)).map((other) => stored.get(other)!.study);
              assert.deepEqual(priors.sort(), expectedPriors.sort(), `${label}: priors`);
            }
          }
        }
      }
    }
    t.diagnostic(`study endpoint cases: ${cases}`);
    console.log(`authorisation matrix: ${cases} study-endpoint cases (${PRINCIPALS.length} principals × 2 purpose states × ${stored.size} studies × 8 endpoints)`);
    assert.equal(cases, PRINCIPALS.length * 2 * stored.size * 8);
  });

  it('searches return exactly the visible studies, and counts leak nothing', async (t) => {
    let cases = 0;
    for (const { name: principal } of PRINCIPALS) {
      for (const withPurpose of [false, true]) {
        const purpose = withPurpose ? 'comparison' : undefined;
        const visible = [...expectedVisible(principal, withPurpose)].map((key) => stored.get(key)!.study).sort();
        for (const level of ['studies', 'series', 'instances']) {
          cases++;
          const response = await call(principal, `/dicom-web/${level}`, { purpose });
          if (principal === 'anonymous') {
            assert.equal(response.status, 401);
            continue;
          }
          if (!READ_ROLES.has(principal)) {
            assert.equal(response.status, 403, `${principal} ${level}`);
            continue;
          }
          assert.equal(response.status, 200);
          const results = (await response.json()) as Record<string, { Value?: string[] }>[];
          assert.deepEqual([...new Set(results.map((result) => result['0020000D']!.Value![0]!))].sort(), visible, `${principal}${withPurpose ? ' +purpose' : ''}: ${level}`);
        }
        if (!READ_ROLES.has(principal)) continue;
        // One result per page: the count of the rest says how many more the caller may see, no more.
        cases++;
        const paged = await call(principal, '/dicom-web/studies?limit=1', { purpose });
        const warning = paged.headers.get('warning') ?? '';
        const more = /There are (\d+) additional results/.exec(warning)?.[1];
        assert.equal(Number(more ?? 0), visible.length - 1, `${principal}: the remaining count covers visible studies only (${warning})`);
      }
    }
    t.diagnostic(`search cases: ${cases}`);
    console.log(`authorisation matrix: ${cases} search cases`);
  });

  it('store, administration and audit endpoints answer each role as the policy says', async (t) => {
    const stow = async (principal: Principal) => {
      const [instance] = [...makeSecondaryCaptures({ study: STUDIES.taoDx, count: 1, seriesNumber: 81 })];
      const boundary = 'matrix-boundary';
      const body = Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`), instance!.bytes, Buffer.from(`\r\n--${boundary}--\r\n`)]);
      // Tao's study is Nanling's: storing into it from Qingshi is refused as if it were not there.
      return call(principal, '/dicom-web/studies', { method: 'POST', body, headers: { 'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}`, Accept: 'application/dicom+json' } });
    };
    const expectations: { name: string; request: (principal: Principal) => Promise<Response>; allowed: Principal[]; allowedStatus?: number }[] = [
      { name: 'GET /api/stats', request: (p) => call(p, '/api/stats'), allowed: ['system_admin'] },
      { name: 'GET /api/jobs', request: (p) => call(p, '/api/jobs'), allowed: ['system_admin'] },
      { name: 'GET /api/admin/users', request: (p) => call(p, '/api/admin/users'), allowed: ['system_admin', 'institution_admin'] },
      { name: 'GET /api/admin/peers', request: (p) => call(p, '/api/admin/peers'), allowed: ['system_admin', 'institution_admin'] },
      {
        name: 'POST /api/admin/institutions',
        request: (p) => call(p, '/api/admin/institutions', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ code: `NEW_${p}`, name: 'x', kind: 'hospital' }) }),
        allowed: ['system_admin'],
        allowedStatus: 201,
      },
      { name: 'GET /api/audit/events', request: (p) => call(p, '/api/audit/events?limit=5'), allowed: ['auditor'] },
      { name: 'GET /api/audit/verify', request: (p) => call(p, '/api/audit/verify'), allowed: ['auditor'] },
      { name: 'GET /api/quality/scales/DX', request: (p) => call(p, '/api/quality/scales/DX'), allowed: ['qc_staff'] },
      { name: 'GET /api/auth/me', request: (p) => call(p, '/api/auth/me'), allowed: ['system_admin', 'institution_admin', 'radiologist', 'referring_doctor', 'qc_staff', 'auditor'] },
    ];
    let cases = 0;
    for (const expectation of expectations) {
      for (const { name: principal } of PRINCIPALS) {
        cases++;
        const response = await expectation.request(principal);
        const expected = principal === 'anonymous' ? 401 : expectation.allowed.includes(principal) ? (expectation.allowedStatus ?? 200) : 403;
        assert.equal(response.status, expected, `${principal} → ${expectation.name}: ${await response.text()}`);
      }
    }
    // An institution administrator sees their own institution's users only.
    const users = (await (await call('institution_admin', '/api/admin/users')).json()) as { username: string }[];
    assert.deepEqual(users.map((user) => user.username).sort(), ['m-qs-admin', 'm-qs-radiologist', 'm-qs-referrer']);
    // STOW-RS: roles with 'store' and an institution; Tao's study belongs to Nanling.
    for (const { name: principal } of PRINCIPALS) {
      cases++;
      const response = await stow(principal);
      // Roles that may store, with an institution, reach the ingest path, which refuses the instance
      // (409, FailureReason 0x0124 Not Authorized); a system administrator belongs to no institution.
      const expected = principal === 'anonymous' ? 401 : ['radiologist', 'institution_admin'].includes(principal) ? 409 : 403;
      const text = await response.text();
      assert.equal(response.status, expected, `${principal} → STOW into Nanling's study: ${text}`);
      if (expected === 409) assert.equal((JSON.parse(text) as Record<string, { Value: Record<string, { Value: number[] }>[] }>)['00081198']!.Value[0]!['00081197']!.Value[0], 0x0124);
    }
    t.diagnostic(`administration cases: ${cases}`);
    console.log(`authorisation matrix: ${cases} store/administration/audit cases`);
  });

  /**
   * Issue 13, findings 1–3: the same request spelt another way. A capitalised prefix is a path the
   * table does not name (refused: 401 without credentials, 404 with); a percent-encoded UID is the
   * same request once decoded (the same answer as the plain one); HEAD is answered as GET is.
   */
  it('gives every path the same decision whatever its case or percent-encoding, and HEAD the same as GET', async (t) => {
    const capitalised = (path: string) => path.replace(/^\/(dicom-web|wado|api)/, (prefix) => (prefix === '/dicom-web' ? '/DICOM-WEB' : prefix === '/wado' ? '/WADO' : '/Api'));
    const encoded = (path: string, study: string) => path.replace(study, `%${study.charCodeAt(0).toString(16)}${study.slice(1)}`).replace(/\/series\//, '/%73eries/');
    let cases = 0;
    for (const { name: principal } of PRINCIPALS) {
      for (const withPurpose of [false, true]) {
        const purpose = withPurpose ? 'comparison' : undefined;
        for (const [key, study] of stored) {
          for (const endpoint of studyEndpoints(study)) {
            const headers: Record<string, string> = endpoint.accept ? { Accept: endpoint.accept } : {};
            const label = `${principal}${withPurpose ? ' +purpose' : ''} → ${endpoint.name} of ${key}`;
            const plain = await call(principal, endpoint.path, { headers, purpose });
            const plainBody = Buffer.from(await plain.arrayBuffer());

            cases++;
            const upper = await call(principal, capitalised(endpoint.path), { headers, purpose });
            const upperBody = await upper.text();
            assert.equal(upper.status, principal === 'anonymous' ? 401 : 404, `${label}, capitalised: ${upperBody.slice(0, 200)}`);
            // A refusal that says only that: nothing but the problem's own fields, the path echoed at most.
            assert.deepEqual(Object.keys(JSON.parse(upperBody) as object).sort(), ['detail', 'status', 'title', 'type'], `${label}, capitalised`);

            cases++;
            const percent = await call(principal, encoded(endpoint.path, study.study), { headers, purpose });
            const percentBody = Buffer.from(await percent.arrayBuffer());
            assert.equal(percent.status, plain.status, `${label}, percent-encoded: ${percentBody.toString('utf8', 0, 200)}`);
            if (plain.status !== 200) assert.equal(percentBody.toString(), plainBody.toString(), `${label}, percent-encoded: the same refusal`);

            cases++;
            const head = await call(principal, endpoint.path, { method: 'HEAD', headers, purpose });
            assert.equal(head.status, plain.status, `${label}, HEAD`);
            assert.equal((await head.arrayBuffer()).byteLength, 0, `${label}, HEAD has no body`);
          }
        }
      }
    }
    // The API outside the study endpoints: audit trail, statistics, queue, administration.
    for (const path of ['/api/audit/events', '/api/audit/export.csv', '/api/audit/verify', '/api/stats', '/api/jobs', '/api/admin/institutions', '/api/admin/regions', '/api/admin/users']) {
      for (const variant of [path.toUpperCase(), path.replace('/api', '/Api'), path.replace(/\/(\w)/g, (_all, first: string) => `/%${first.charCodeAt(0).toString(16)}`)]) {
        for (const { name: principal } of PRINCIPALS) {
          cases++;
          const response = await call(principal, variant);
          const canonical = await call(principal, path);
          // Percent-encoding decodes to the canonical path: the same answer. Case variants name nothing.
          const expected = variant.includes('%') ? canonical.status : principal === 'anonymous' ? 401 : 404;
          assert.equal(response.status, expected, `${principal} → ${variant}: ${await response.text()}`);
        }
      }
    }
    t.diagnostic(`path-variant cases: ${cases}`);
    console.log(`authorisation matrix: ${cases} path-variant cases (case, percent-encoding, HEAD)`);
  });

  const rawGet = (path: string, token: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = http.get({ host: '127.0.0.1', port: new URL(system.httpUrl).port, path, headers: { authorization: `Bearer ${token}` } }, (response) => {
        let body = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode!, body }));
      });
      request.on('error', reject);
    });

  it('refuses paths that cannot be decoded to one canonical form, before any rule or route', async () => {
    const study = stored.get('prior')!;
    for (const path of [
      `/dicom-web/studies/${study.study}%2Fseries`,
      `/dicom-web/studies/${study.study}/../${stored.get('tao')!.study}/metadata`,
      `/dicom-web/studies/${study.study}/%2e%2e/metadata`,
      `/dicom-web//studies/${study.study}/metadata`,
      `/dicom-web/studies/${study.study}%00/metadata`,
      `/dicom-web/studies/%E0%A4%A/metadata`,
      `/dicom-web/studies/%2531.2/metadata`,
    ]) {
      // Sent as written: fetch would resolve dot segments before sending.
      const { status, body } = await rawGet(path, tokens.get('radiologist')!);
      assert.equal(status, 400, `${path}: ${body}`);
      assert.match(body, /request path/);
    }
  });

  it('QC staff see masked identity and cannot match or sort on it', async () => {
    for (const query of ['PatientName=WANG*', 'PatientID=Q*', 'PatientBirthDate=19000101-20991231', '00100010=W*', 'orderby=PatientName', 'IssuerOfPatientID=X']) {
      const response = await call('qc_staff', `/dicom-web/studies?${query}`);
      const body = await response.text();
      assert.equal(response.status, 403, `qc_staff ?${query}: ${body}`);
      assert.match(body, /identity is masked/);
      // A role that sees identity matches as before.
      assert.equal((await call('radiologist', `/dicom-web/studies?${query}`)).status, 200, `radiologist ?${query}`);
    }
    // Matching on what QC needs is untouched.
    assert.equal((await call('qc_staff', '/dicom-web/studies?ModalitiesInStudy=CT')).status, 200);
  });
});
