import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { message } from '../archive/i18n/messages.ts';
import type { IssuedShareLink, ShareLinkSummary } from '../archive/reading/share-link-types.ts';
import { makeSecondaryCaptures, STUDIES, type Study } from '../fixtures/generate.ts';
import { browserUnavailable, ensureViewerBuilt, launchChromium, screenshot, signIn, waitForCondition, waitForFirstImage, watchForPageProblems } from './support/browser.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { filmUrlObjectKey } from '../workers/jobs/write-report-pdf.ts';

/**
 * The patient's cloud film (云胶片) and doctors' share links against the running system: Qingshi's
 * radiologist makes links to Wang's study; the patient opens theirs on a phone-sized Chromium with
 * the second factor; wrong factors lock the link; expired and revoked links do not open; the film's
 * cookie reaches only that study's images; a share with a Nanling doctor is a grant they lose on
 * revocation; every opening and every failure is in the audit trail.
 */
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const BIRTH_DATE = '1965-03-12'; // STUDIES.wangPriorCt's patient
const TELEPHONE = '+86 138 0013 8642';
const PASSWORD = 'cloud-film passphrase';

interface StoredStudy {
  study: string;
  series: string;
  instances: string[];
}

describe('cloud film and share links', { skip: browserUnavailable() }, () => {
  let system: TestSystem;
  let browser: Browser;
  let filmed: StoredStudy;
  let other: StoredStudy;
  const tokens = new Map<string, string>();
  let ingestOne: (study: Study) => Promise<string>;

  const call = (username: string, path: string, init: RequestInit & { json?: unknown } = {}) => {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${tokens.get(username)}`);
    if (init.json !== undefined) headers.set('content-type', 'application/json');
    return fetch(`${system.httpUrl}${path}`, { ...init, headers, body: init.json !== undefined ? JSON.stringify(init.json) : init.body });
  };
  const json = async <T>(response: Response, status: number): Promise<T> => {
    const text = await response.text();
    assert.equal(response.status, status, text);
    return JSON.parse(text) as T;
  };
  const patientLink = async (body: unknown = { factor: 'birth-date' }) =>
    json<IssuedShareLink>(await call('qs-radiologist', `/api/studies/${filmed.study}/share-links/patient`, { method: 'POST', json: body }), 201);
  /** The link's page as a phone without a cookie would load it (the URL names the gateway it was made by). */
  const open = (url: string, init: RequestInit = {}) => fetch(url, { redirect: 'manual', ...init });
  /** The one-time token of the second factor's form, as the link's page gives it. */
  const formTokenIn = (html: string) => /<input type="hidden" name="form" value="([^"]+)">/.exec(html)?.[1];
  const formToken = async (url: string) => formTokenIn(await (await open(url)).text()) ?? assert.fail(`no factor form at ${url}`);
  /** The form's POST; with the token of a page shown earlier when given, else of one loaded now. */
  const submitFactor = async (url: string, factor: string, form?: string) =>
    open(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ factor, form: form ?? (await formToken(url)) }).toString() });
  const auditOf = async (linkId: string) => {
    const { rows } = await system.runtime.db.pool.query<{ event_type: string; outcome: number; source_address: string; study_uids: string[]; patient_id: string | null; detail: Record<string, unknown> }>(
      `SELECT event_type, outcome, source_address, study_uids, patient_id, detail FROM audit_events WHERE user_name = $1 ORDER BY id`,
      [`share-link:${linkId}`],
    );
    return rows;
  };

  before(async () => {
    system = await startTestSystem();
    const { administration } = system;
    const actor = COMMAND_LINE_ACTOR;
    const institutions: Record<string, string> = {};
    for (const [code, name] of [
      ['QINGSHI', '青石县人民医院'],
      ['NANLING', '南岭县中医院'],
    ] as const) {
      institutions[code] = (await administration.createInstitution(actor, { code, name, kind: 'hospital' })).id;
    }
    for (const [username, role, institutionCode] of [
      ['qs-radiologist', 'radiologist', 'QINGSHI'],
      ['qs-referrer', 'referring_doctor', 'QINGSHI'],
      ['nl-radiologist', 'radiologist', 'NANLING'],
      ['nl-doctor', 'referring_doctor', 'NANLING'],
      ['qs-verifier', 'radiologist', 'QINGSHI'],
    ] as const) {
      await administration.createUser(actor, { username, displayName: username, role, institutionCode, password: PASSWORD });
      tokens.set(username, (await administration.createToken(actor, { username, label: 'cloud film' })).token);
    }
    const ingestStudy = async (study: Study, count: number, overrides = {}): Promise<StoredStudy> => {
      const stored: StoredStudy = { study: '', series: '', instances: [] };
      for (const instance of makeSecondaryCaptures({ study, count, seriesNumber: 2, overrides })) {
        const outcome = await system.runtime.ingest.ingest({ part10: instance.bytes }, { via: 'import', name: 'cloud-film', institutionId: institutions.QINGSHI! });
        stored.study = outcome.parsed.studyInstanceUid;
        stored.series = outcome.parsed.seriesInstanceUid;
        stored.instances.push(outcome.parsed.sopInstanceUid);
      }
      return stored;
    };
    ingestOne = async (study: Study) => {
      const stored = await ingestStudy(study, 1);
      await system.runtime.queue.whenIdle();
      return stored.study;
    };
    filmed = await ingestStudy(STUDIES.wangPriorCt, 5, { PatientTelephoneNumbers: TELEPHONE });
    other = await ingestStudy(STUDIES.liJiCr, 1);
    await system.runtime.queue.whenIdle();
    [browser] = await Promise.all([launchChromium(), ensureViewerBuilt()]);
  });
  after(async () => {
    await browser?.close();
    await system?.shutdown();
  });

  it('opens on a phone with the right birth date: the study, its images to swipe, and nothing of any other study', async () => {
    const issued = await patientLink();
    assert.match(issued.url, /\/film\/[A-Za-z0-9_-]{43}$/);
    assert.match(issued.qrSvg, /^<svg/);
    assert.equal(issued.link.state, 'active');
    assert.equal(issued.link.factorKind, 'birth-date');
    const days = (Date.parse(issued.link.expiresAt) - Date.now()) / 86_400_000;
    assert.ok(days > 29.9 && days <= 30, `expires in 30 days by default, not ${days}`);

    const context = await browser.newContext({ ...PHONE, locale: 'zh-CN' });
    try {
      const page = await context.newPage();
      const scripts: string[] = [];
      const documents: string[] = [];
      page.on('request', (request) => {
        if (request.resourceType() === 'script') scripts.push(request.url());
      });
      page.on('response', (response) => {
        if (response.request().resourceType() === 'document') documents.push(`${response.request().method()} ${response.status()}`);
      });
      await page.goto(issued.url);
      assert.equal(await page.locator('label[for=factor]').innerText(), message('film.factor.birth-date', 'zh'));
      await page.fill('#factor', '1965-03-13');
      await page.click('button[type=submit]');
      assert.equal(await page.locator('.refusal').innerText(), message('film.refused.wrong-factor', 'zh'));
      await page.fill('#factor', BIRTH_DATE);
      await page.click('button[type=submit]');
      await page.locator('main.film').waitFor();
      assert.match(await page.locator('header h1').innerText(), /王小东/);
      assert.equal(await page.locator('.no-report').innerText(), message('film.noReport', 'zh'), 'no final report signed yet');
      // No key images marked: the middle image of the series stands for it, drawn first.
      assert.equal(await page.locator('img.key-image').count(), 1);
      await waitForCondition(page, "(() => { const image = document.querySelector('img.key-image'); return !!image && image.complete && image.naturalWidth > 0; })()");
      assert.deepEqual(documents, ['GET 200', 'POST 401', 'POST 200'], 'the right factor is answered with the film itself, no redirect to fetch it');
      assert.match((await page.locator('img.key-image').getAttribute('src')) ?? '', /^data:image\/jpeg;base64,/, 'the first key image comes inside the page, no request of its own');
      assert.equal(await page.locator('.series .strip figure').count(), 5, 'every image of the series, to swipe through');
      assert.equal(await page.locator('.series figcaption').first().innerText(), '1 / 5');
      assert.deepEqual(scripts, [], 'no script at all on the patient page');
      const width = (await page.evaluate('document.documentElement.scrollWidth')) as number;
      assert.ok(width <= 390, `fits the phone's width (${width}px)`);
      await screenshot(page, 'cloud-film-phone');

      // The cookie is the link's: that study's images open, another study's do not, nor DICOMweb.
      const base = new URL(issued.url);
      const own = await page.request.get(`${base.href}/images/${filmed.series}/${filmed.instances[0]}/1`);
      assert.equal(own.status(), 200);
      assert.equal(own.headers()['content-type'], 'image/jpeg');
      const foreign = await page.request.get(`${base.href}/images/${other.series}/${other.instances[0]}/1`);
      assert.equal(foreign.status(), 404, 'another study of the same hospital');
      const mixed = await page.request.get(`${base.href}/images/${filmed.series}/${other.instances[0]}/1`);
      assert.equal(mixed.status(), 404, "another study's instance under this study's series");
      const dicomWeb = await page.request.get(`${base.origin}/dicom-web/studies/${other.study}/metadata`);
      assert.equal(dicomWeb.status(), 401, 'the film cookie is no sign-in');
      const ownDicomWeb = await page.request.get(`${base.origin}/dicom-web/studies/${filmed.study}/metadata`);
      assert.equal(ownDicomWeb.status(), 401);

      // English on request, the same film.
      await page.goto(`${issued.url}?lang=en`);
      assert.equal(await page.locator('.all-images h2').innerText(), message('film.allImages', 'en'));
    } finally {
      await context.close();
    }

    const events = await auditOf(issued.link.id);
    const refusals = events.filter((event) => event.event_type === 'access-denied').map((event) => event.detail.refusal);
    assert.deepEqual(refusals, ['wrong-factor', 'not-in-film', 'not-in-film'], 'the wrong birth date, then the two probes of another study');
    const pages = events.filter((event) => event.event_type === 'instances-accessed' && event.detail.what === 'film page');
    assert.equal(pages.length, 2, 'each opening of the page, in Chinese and in English');
    const images = events.filter((event) => event.event_type === 'instances-accessed' && event.detail.what === 'image');
    assert.ok(images.some((event) => event.detail.sopInstanceUid === filmed.instances[0]), 'the image fetched by hand');
    assert.ok(images.filter((event) => event.detail.sopInstanceUid === filmed.instances[2]).length >= 2, 'the key image (the middle one) inside each page, Chinese and English');
    for (const event of [...pages, ...images]) {
      assert.deepEqual(event.study_uids, [filmed.study]);
      assert.match(event.patient_id ?? '', /QS0012345/);
      assert.equal(event.source_address.replace('::ffff:', ''), '127.0.0.1');
    }
  });

  it('shows nothing without the second factor, with a forged cookie, or with a malformed token', async () => {
    const issued = await patientLink();
    const form = await open(issued.url);
    assert.equal(form.status, 200);
    const html = await form.text();
    assert.match(html, /name="factor"/);
    assert.doesNotMatch(html, /images\//, 'no image address before the factor');
    const image = `${issued.url}/images/${filmed.series}/${filmed.instances[0]}/1`;
    assert.equal((await open(image)).status, 404);
    const forged = `yingyun_film=${issued.link.id}.${Date.now() + 3_600_000}.${'A'.repeat(43)}`;
    assert.equal((await open(image, { headers: { cookie: forged } })).status, 404);
    assert.equal((await open(issued.url, { headers: { cookie: forged } })).status, 200, 'a forged cookie gets the form again');
    assert.equal((await open(`${new URL(issued.url).origin}/film/not-a-token`)).status, 404);
  });

  it("the phone's last 4 digits come from the study, and the link locks after 5 wrong ones", async () => {
    const issued = await patientLink({ factor: 'phone-last4' });
    const shownBeforeTheLock = await formToken(issued.url);
    const statuses: number[] = [];
    for (const wrong of ['0000', '1111', '2222', '3333', '4444']) statuses.push((await submitFactor(issued.url, wrong)).status);
    assert.deepEqual(statuses, [401, 401, 401, 401, 403], 'the fifth failure locks it');
    const right = await submitFactor(issued.url, '8642', shownBeforeTheLock);
    assert.equal(right.status, 403, 'locked: even the right digits do not open it');
    assert.match(await right.text(), new RegExp(message('film.refused.locked', 'en').slice(0, 20)));
    const listed = await json<ShareLinkSummary[]>(await call('qs-radiologist', `/api/studies/${filmed.study}/share-links`), 200);
    const summary = listed.find((link) => link.id === issued.link.id)!;
    assert.equal(summary.state, 'locked');
    assert.equal(summary.failedAttempts, 5);
    assert.ok(!('factorValue' in summary), 'the list never shows the factor');
    const refusals = (await auditOf(issued.link.id)).map((event) => event.detail.refusal);
    assert.deepEqual(refusals, ['wrong-factor', 'wrong-factor', 'wrong-factor', 'wrong-factor', 'locked', 'locked']);

    // Staff may type the digits themselves; four digits only.
    await patientLink({ factor: 'phone-last4', phoneLast4: '5678' });
    const bad = await call('qs-radiologist', `/api/studies/${filmed.study}/share-links/patient`, { method: 'POST', json: { factor: 'phone-last4', phoneLast4: '56' } });
    assert.equal(bad.status, 400);
  });

  it('30 wrong factors sent at once get no more comparisons than the lock allows, and the right one then finds it locked', async () => {
    const issued = await patientLink({ factor: 'phone-last4' });
    const shownBeforeTheLock = await formToken(issued.url);
    const wrong = Array.from({ length: 30 }, (_, guess) => String(1000 + guess));
    // Each guess from a page of its own, loaded before any is sent.
    const forms = await Promise.all(wrong.map(() => formToken(issued.url)));
    const statuses = await Promise.all(wrong.map(async (guess, index) => (await submitFactor(issued.url, guess, forms[index])).status));
    assert.ok(statuses.every((status) => status === 401 || status === 403 || status === 429), statuses.join(','));
    const right = await submitFactor(issued.url, '8642', shownBeforeTheLock);
    assert.equal(right.status, 403);
    assert.equal(right.headers.get('set-cookie'), null, 'no session');
    const { rows } = await system.runtime.db.pool.query<{ failed: number; locked: boolean }>('SELECT failed_attempts AS failed, locked_at IS NOT NULL AS locked FROM share_links WHERE id = $1', [issued.link.id]);
    assert.deepEqual(rows[0], { failed: 5, locked: true });
    const compared = (await auditOf(issued.link.id)).filter((event) => event.detail.attempt !== undefined);
    assert.equal(compared.length, 5, 'each compared guess is audited with its attempt number');
  });

  it('does not open once expired or revoked, and a film already open closes with the revocation', async () => {
    const expiring = await patientLink();
    const shownBeforeExpiry = await formToken(expiring.url);
    await system.runtime.db.pool.query(`UPDATE share_links SET expires_at = now() - interval '1 second' WHERE id = $1`, [expiring.link.id]);
    assert.equal((await open(expiring.url)).status, 410);
    assert.equal((await submitFactor(expiring.url, BIRTH_DATE, shownBeforeExpiry)).status, 410);

    const revoked = await patientLink();
    const verified = await submitFactor(revoked.url, BIRTH_DATE);
    assert.equal(verified.status, 200);
    assert.equal(verified.headers.get('cache-control'), 'no-store', 'the film that answers the factor is kept by no cache either');
    assert.match(await verified.text(), /<main class="film">[\s\S]*class="key-image" src="data:image\/jpeg;base64,/);
    const cookie = verified.headers.get('set-cookie')!.split(';')[0]!;
    assert.match(verified.headers.get('set-cookie')!, new RegExp(`Path=/film/[A-Za-z0-9_-]{43}; .*HttpOnly.*SameSite=Strict`, 'i'));
    const image = `${revoked.url}/images/${filmed.series}/${filmed.instances[1]}/1`;
    const served = await open(image, { headers: { cookie } });
    assert.equal(served.status, 200);
    assert.equal(served.headers.get('cache-control'), 'no-store', 'no image of the film stays on a shared phone after revocation');
    const after = await json<ShareLinkSummary>(await call('qs-radiologist', `/api/studies/${filmed.study}/share-links/${revoked.link.id}`, { method: 'DELETE' }), 200);
    assert.equal(after.state, 'revoked');
    assert.equal((await open(revoked.url, { headers: { cookie } })).status, 410);
    assert.equal((await open(image, { headers: { cookie } })).status, 404);
    assert.equal((await call('qs-radiologist', `/api/studies/${filmed.study}/share-links/${revoked.link.id}`, { method: 'DELETE' })).status, 409);
    const refusals = [...(await auditOf(expiring.link.id)), ...(await auditOf(revoked.link.id))].filter((event) => event.event_type === 'access-denied').map((event) => event.detail.refusal);
    assert.deepEqual(refusals, ['expired', 'expired', 'revoked']);
  });

  it('a right factor replayed from the history of a shared phone opens nothing: the form again, with a fresh token', async (t) => {
    const issued = await patientLink();
    const shown = await formToken(issued.url);
    const first = await submitFactor(issued.url, BIRTH_DATE, shown);
    assert.equal(first.status, 200);
    assert.match(await first.text(), /<main class="film">/);
    assert.ok(first.headers.get('set-cookie'), 'the film session');

    // Back or Reload once the session is over: the browser sends the same body again, cookie-less.
    const replayed = await submitFactor(issued.url, BIRTH_DATE, shown);
    const replayedHtml = await replayed.text();
    assert.equal(replayed.status, 409);
    assert.equal(replayed.headers.get('set-cookie'), null, 'no session');
    assert.doesNotMatch(replayedHtml, /class="film"|images\//, 'no film, no image address');
    assert.match(replayedHtml, /name="factor"/);
    assert.ok(replayedHtml.includes(message('film.refused.stale-form', 'en')) || replayedHtml.includes(message('film.refused.stale-form', 'zh')), 'says why the form is back');
    const fresh = formTokenIn(replayedHtml);
    assert.ok(fresh && fresh !== shown, 'a fresh token');
    // A token of another link, or none at all, opens nothing either; nothing is compared, nothing counted.
    const otherLink = await patientLink();
    assert.equal((await submitFactor(issued.url, BIRTH_DATE, await formToken(otherLink.url))).status, 409);
    assert.equal((await submitFactor(issued.url, BIRTH_DATE, '')).status, 409);
    assert.equal((await submitFactor(issued.url, '1900-01-01', shown)).status, 409);
    const { rows } = await system.runtime.db.pool.query<{ failed: number }>('SELECT failed_attempts AS failed FROM share_links WHERE id = $1', [issued.link.id]);
    assert.equal(rows[0]!.failed, 0, 'a replayed form compares no factor, so counts no failure');

    // A form left open past its token's life (10 minutes) is refused the same way.
    const lingering = await formToken(issued.url);
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() + 11 * 60_000 });
    let late: Response;
    try {
      late = await submitFactor(issued.url, BIRTH_DATE, lingering);
    } finally {
      t.mock.timers.reset();
    }
    assert.equal(late.status, 409);
    assert.equal(late.headers.get('set-cookie'), null);
    assert.doesNotMatch(await late.text(), /class="film"/);

    // The fresh token opens the film once.
    const again = await submitFactor(issued.url, BIRTH_DATE, fresh);
    assert.equal(again.status, 200);
    assert.ok(again.headers.get('set-cookie'));

    const events = await auditOf(issued.link.id);
    const stale = events.filter((event) => event.detail.refusal === 'stale-form').map((event) => event.detail.form);
    assert.deepEqual(stale, ['spent', 'invalid', 'invalid', 'spent', 'expired'], 'each replay audited with why');
    assert.equal(events.filter((event) => event.detail.what === 'film page').length, 2, 'two openings: the first POST and the fresh form');
  });

  it("a key image that cannot be drawn leaves the page working (its URL instead), and a film whose study is gone is no opening", async () => {
    const study = await ingestOne(STUDIES.taoDx);
    const issued = await json<IssuedShareLink>(await call('qs-radiologist', `/api/studies/${study}/share-links/patient`, { method: 'POST', json: { factor: 'phone-last4', phoneLast4: '1357' } }), 201);
    const { rows } = await system.runtime.db.pool.query<{ key: string; sop: string }>(
      `SELECT r.object_key AS key, i.sop_instance_uid AS sop FROM instances i JOIN receipts r ON r.id = i.receipt_id JOIN studies st ON st.id = i.study_pk WHERE st.study_instance_uid = $1`,
      [study],
    );
    for (const row of rows) await system.runtime.store.delete(row.key);
    const answered = await submitFactor(issued.url, '1357');
    const html = await answered.text();
    assert.equal(answered.status, 200, html);
    assert.ok(answered.headers.get('set-cookie'));
    const source = /class="key-image" src="([^"]+)"/.exec(html)?.[1];
    assert.match(source ?? '', new RegExp(`^/film/[A-Za-z0-9_-]{43}/images/[0-9.]+/${rows[0]!.sop.replaceAll('.', '\\.')}/1$`), 'the image by its URL, not a data: URL');
    const events = await auditOf(issued.link.id);
    assert.equal(events.filter((event) => event.detail.what === 'film page').length, 1);
    assert.equal(events.filter((event) => event.detail.what === 'image').length, 0, 'no image served, none recorded');

    // A link whose study is no longer stored: 404, and no opening recorded.
    const institutionId = (await system.runtime.db.pool.query<{ id: string }>(`SELECT id::text AS id FROM institutions WHERE code = 'QINGSHI'`)).rows[0]!.id;
    const orphan = await system.runtime.shareLinks.createPatientLink(
      { studyInstanceUid: '2.25.314159265358979323846', institutionId },
      { factor: 'phone-last4', phoneLast4: '2468' },
      { userId: null, via: 'staff' },
      system.httpUrl,
    );
    assert.equal((await submitFactor(orphan.url, '2468')).status, 404);
    assert.deepEqual((await auditOf(orphan.link.id)).filter((event) => event.event_type === 'instances-accessed'), [], 'a 404 is no opening');
  });

  it('shown again, a link gets a new URL while the one already sent keeps working; signing makes one by itself', async () => {
    const first = await patientLink();
    const again = await json<IssuedShareLink>(await call('qs-radiologist', `/api/studies/${filmed.study}/share-links/${first.link.id}/token`, { method: 'POST' }), 201);
    assert.equal(again.link.id, first.link.id);
    assert.notEqual(again.url, first.url);
    for (const url of [first.url, again.url]) assert.equal((await submitFactor(url, BIRTH_DATE)).status, 200);
    const { rows } = await system.runtime.db.pool.query<{ tokens: string }>('SELECT count(*) AS tokens FROM share_link_tokens WHERE link_id = $1', [first.link.id]);
    assert.equal(Number(rows[0]!.tokens), 2);
    const stored = await system.runtime.db.pool.query<{ found: number }>('SELECT count(*)::int AS found FROM share_link_tokens WHERE token_sha256 = sha256(convert_to($1, $2))', [first.url.split('/').pop(), 'UTF8']);
    assert.equal(stored.rows[0]!.found, 1, 'the token is kept as its SHA-256 only');

    // The hook report signing calls: the live link (newest), with a token of its own.
    const signed = await system.runtime.shareLinks.patientLinkFor(filmed.study, { userId: null, username: 'qs-radiologist' });
    assert.ok(signed);
    assert.ok(signed.url.startsWith(`${system.httpUrl}/film/`), `made without a request, the URL names the address the server listens at: ${signed.url}`);
    assert.equal((await submitFactor(signed.url, BIRTH_DATE)).status, 200);
    assert.equal(await system.runtime.shareLinks.patientLinkFor('2.25.999999999999', { userId: null }), null, 'no study, no link');
  });

  it("signing the final report (审核) makes the patient's link, and the film shows that report", async () => {
    const study = await ingestOne(STUDIES.zhangMr);
    const verifier = (await system.runtime.users.findByUsername('qs-verifier'))!;
    const granted = await fetch(`${system.httpUrl}/api/report-readers/${verifier.id}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${system.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ professionalTitle: '主任医师', licenceNumber: '110420000123', mayVerifyReports: true }),
    });
    assert.equal(granted.status, 204, await granted.text());
    const opened = await json<{ draftRevision: number }>(await call('qs-radiologist', `/api/studies/${study}/report`, { method: 'POST', json: {} }), 200);
    const content = { findings: '颅内未见异常信号。\nNo abnormal signal.', impression: '头颅 MR 平扫未见异常。', criticalFinding: null, templateId: null };
    const saved = await json<{ revision: number }>(await call('qs-radiologist', `/api/studies/${study}/report/draft`, { method: 'PUT', json: { content, revision: opened.draftRevision } }), 200);
    const preliminary = await json<{ draftRevision: number }>(await call('qs-radiologist', `/api/studies/${study}/report/signatures`, { method: 'POST', json: { role: 'preliminary', revision: saved.revision } }), 201);
    const noLinkYet = await json<ShareLinkSummary[]>(await call('qs-radiologist', `/api/studies/${study}/share-links`), 200);
    assert.deepEqual(noLinkYet, [], 'a preliminary report (初诊) is not for the patient');
    await json(await call('qs-verifier', `/api/studies/${study}/report/signatures`, { method: 'POST', json: { role: 'final', revision: preliminary.draftRevision } }), 201);
    const [link] = await json<ShareLinkSummary[]>(await call('qs-radiologist', `/api/studies/${study}/share-links`), 200);
    assert.equal(link?.createdVia, 'report-signed');
    assert.equal(link?.factorKind, 'birth-date');
    assert.equal(link?.state, 'active');

    // Staff show it (SMS, QR) and the patient opens it: the final report is on the page.
    const shown = await json<IssuedShareLink>(await call('qs-radiologist', `/api/studies/${study}/share-links/${link.id}/token`, { method: 'POST' }), 201);
    const verified = await submitFactor(shown.url, '1972-01-05');
    assert.equal(verified.status, 200);
    const page = await open(shown.url, { headers: { cookie: verified.headers.get('set-cookie')!.split(';')[0]!, 'accept-language': 'zh-CN' } });
    const html = await page.text();
    assert.equal(page.status, 200);
    assert.match(html, /颅内未见异常信号。<br>No abnormal signal\./);
    assert.match(html, /头颅 MR 平扫未见异常。/);
    assert.match(html, new RegExp(message('film.verifiedBy', 'zh')));

    // The PDF job printed a token of that link; a rerun of the same version prints the same URL and adds no token.
    await system.runtime.queue.whenIdle();
    const pool = system.runtime.db.pool;
    const { rows: [final] } = await pool.query<{ id: string; version: number }>(
      `SELECT r.id::text AS id, max(v.version) AS version FROM reports r JOIN report_versions v ON v.report_id = r.id WHERE r.study_instance_uid = $1 GROUP BY r.id`,
      [study],
    );
    const printed = (await system.runtime.store.get(filmUrlObjectKey(final!.id, final!.version))).toString('utf8');
    assert.ok(printed.startsWith(`${system.httpUrl}/film/`), printed);
    const tokensOf = async () => Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM share_link_tokens WHERE link_id = $1', [link.id])).rows[0]!.n);
    const before = await tokensOf();
    const rerun = await system.runtime.shareLinks.patientLinkFor(study, { userId: null, username: 'report-pdf' }, undefined, printed);
    assert.equal(rerun?.url, printed);
    assert.equal(await tokensOf(), before, 'a rerun adds no token');

    // Revoked by staff, the link does not come back: no new link, no QR code on the next PDF (an amendment's).
    await json(await call('qs-radiologist', `/api/studies/${study}/share-links/${link.id}`, { method: 'DELETE' }), 200);
    assert.equal(await system.runtime.shareLinks.patientLinkFor(study, { userId: null, username: 'report-pdf' }, undefined, printed), null);
    assert.equal(await system.runtime.shareLinks.ensurePatientLink(study, { userId: null }), null);
    const links = await json<ShareLinkSummary[]>(await call('qs-radiologist', `/api/studies/${study}/share-links`), 200);
    assert.deepEqual(links.map((one) => one.state), ['revoked'], 'no link made behind staff');
    assert.equal(await tokensOf(), before);
  });

  it('staff make a link in the viewer, show it with its QR code for SMS or WeChat, show it again and revoke it', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN' });
    try {
      const page = await context.newPage();
      const problems: string[] = [];
      await watchForPageProblems(page, problems);
      await signIn(page, system.httpUrl, { username: 'qs-radiologist', password: PASSWORD, displayName: 'qs-radiologist' }, `/viewer?StudyInstanceUIDs=${filmed.study}`);
      // The radiologist marks the image on show as key and saves it (a KOS in the study): the film shows it first.
      await waitForFirstImage(page, 'viewport-0');
      await page.click('button[data-action=key-image]');
      await page.click('button[data-action=save-measurements]');
      await page.locator('.save-status').filter({ hasText: /./ }).waitFor();
      await system.runtime.queue.whenIdle();
      await page.click('[data-action=share]');
      await page.locator('.share-panel select[name=factor]').selectOption('phone-last4');
      await page.fill('.share-panel input[name=phoneLast4]', '2468');
      await page.fill('.share-panel input[name=days]', '7');
      await page.click('[data-action=create-patient-link]');
      await page.locator('.share-url').waitFor();
      const url = await page.locator('.share-url').inputValue();
      assert.match(url, /\/film\/[A-Za-z0-9_-]{43}$/);
      await waitForCondition(page, "(() => { const image = document.querySelector('.share-qr'); return !!image && image.complete && image.naturalWidth > 0; })()");
      await page.locator('.share-link-list li[data-state=active]').first().waitFor();
      await screenshot(page, 'cloud-film-share-panel');
      const made = await json<ShareLinkSummary[]>(await call('qs-radiologist', `/api/studies/${filmed.study}/share-links`), 200);
      const link = made.find((candidate) => candidate.createdVia === 'staff' && candidate.factorKind === 'phone-last4' && candidate.state === 'active' && Math.abs(Date.parse(candidate.expiresAt) - Date.parse(candidate.createdAt) - 7 * 86_400_000) < 60_000)!;
      assert.ok(link, 'the link made in the viewer: phone digits, 7 days');
      const verified = await submitFactor(url, '2468');
      assert.equal(verified.status, 200, 'the typed digits open it');
      const film = await (await open(url, { headers: { cookie: verified.headers.get('set-cookie')!.split(';')[0]!, 'accept-language': 'en' } })).text();
      assert.match(film, new RegExp(`<h2>${message('film.keyImages', 'en')}</h2>`), 'the key images marked in the viewer');
      assert.equal([...film.matchAll(/class="key-image" src="data:image\/jpeg;base64,/g)].length, 1, 'one key image, inside the page');
      // Which image went into the page: its audit event says.
      const drawn = (await auditOf(link.id)).filter((event) => event.detail.what === 'image').at(-1);
      assert.ok(filmed.instances.includes(drawn?.detail.sopInstanceUid as string), 'an image of the study');
      assert.doesNotMatch(film, /1 \/ 6|· 1<\/h3>/, 'the KOS and the measurement SR are documents, not images on the film');
      assert.match(film, /<header>[\s\S]*?<p>[^<]* OT CT胸部平扫<\/p>/, 'the header names the image modality only, not KO or SR');

      await page.click(`.share-link-list li[data-link="${link.id}"] [data-action=show-link]`);
      await waitForCondition(page, `document.querySelector('.share-url')?.value !== ${JSON.stringify(url)}`);
      const shownAgain = await page.locator('.share-url').inputValue();
      assert.match(shownAgain, /\/film\/[A-Za-z0-9_-]{43}$/);
      assert.notEqual(shownAgain, url);

      await page.click(`.share-link-list li[data-link="${link.id}"] [data-action=revoke-link]`);
      await page.locator(`.share-link-list li[data-link="${link.id}"][data-state=revoked]`).waitFor();
      assert.equal((await open(url)).status, 410);
      assert.equal((await open(shownAgain)).status, 410);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  it('only those who may export the study make links, and only for studies they see', async () => {
    const referrer = await call('qs-referrer', `/api/studies/${filmed.study}/share-links/patient`, { method: 'POST', json: { factor: 'birth-date' } });
    assert.equal(referrer.status, 403);
    const outsider = await call('nl-radiologist', `/api/studies/${filmed.study}/share-links/patient`, { method: 'POST', json: { factor: 'birth-date' } });
    assert.equal(outsider.status, 404);
    assert.equal((await call('nl-radiologist', `/api/studies/${filmed.study}/share-links`)).status, 404);
    assert.equal((await call('qs-radiologist', `/api/studies/${filmed.study}/share-links/not-a-link`, { method: 'DELETE' })).status, 404);
    assert.equal((await call('qs-radiologist', `/api/studies/${filmed.study}/share-links/999999/token`, { method: 'POST' })).status, 404);
  });

  it("a doctor's share link lets one doctor of another institution read that one study until revoked", async () => {
    const metadata = (study: string) => call('nl-doctor', `/dicom-web/studies/${study}/metadata`);
    assert.equal((await metadata(filmed.study)).status, 404, 'before the share');
    const issued = await json<IssuedShareLink>(
      await call('qs-radiologist', `/api/studies/${filmed.study}/share-links/doctor`, { method: 'POST', json: { username: 'nl-doctor', reason: '会诊前阅片 second opinion', hours: 24 } }),
      201,
    );
    assert.ok(issued.url.endsWith(`/viewer?StudyInstanceUIDs=${filmed.study}`));
    assert.equal(issued.link.grantee, 'nl-doctor');
    assert.equal(issued.link.audience, 'doctor');
    assert.equal((await metadata(filmed.study)).status, 200, 'shared');
    assert.equal((await metadata(other.study)).status, 404, 'only that study');
    const { rows } = await system.runtime.db.pool.query<{ detail: Record<string, unknown> }>(
      `SELECT detail FROM audit_events WHERE user_name = 'nl-doctor' AND event_type = 'instances-accessed' ORDER BY id DESC LIMIT 1`,
    );
    assert.ok(Array.isArray(rows[0]!.detail.accessGrantIds), 'the read names the grant');

    const unknown = await call('qs-radiologist', `/api/studies/${filmed.study}/share-links/doctor`, { method: 'POST', json: { username: 'nobody', reason: 'x' } });
    assert.equal(unknown.status, 404);
    const colleague = await call('qs-radiologist', `/api/studies/${filmed.study}/share-links/doctor`, { method: 'POST', json: { username: 'qs-referrer', reason: 'x' } });
    assert.equal(colleague.status, 400, 'same institution: sees it already');

    await json<ShareLinkSummary>(await call('qs-radiologist', `/api/studies/${filmed.study}/share-links/${issued.link.id}`, { method: 'DELETE' }), 200);
    assert.equal((await metadata(filmed.study)).status, 404, 'revoked');
  });

  it('one address guessing tokens is stopped, whatever links it tries', async () => {
    const issued = await patientLink();
    let status = 0;
    for (let guess = 0; guess < 25 && status !== 429; guess++) {
      status = (await open(`${system.httpUrl}/film/${'x'.repeat(42)}${String.fromCharCode(65 + guess)}`)).status;
    }
    assert.equal(status, 429);
    const real = await open(issued.url);
    assert.equal(real.status, 429, 'a real link from that address waits too');
    assert.equal(real.headers.get('retry-after'), '900');
    const { rows } = await system.runtime.db.pool.query<{ refusal: string }>(
      `SELECT detail ->> 'refusal' AS refusal FROM audit_events WHERE user_name LIKE 'share-link:%' AND event_type = 'access-denied' ORDER BY id DESC LIMIT 2`,
    );
    assert.deepEqual(rows.map((row) => row.refusal), ['throttled', 'throttled']);
  });
});
