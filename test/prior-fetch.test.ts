import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { makeSecondaryCaptures, STUDIES, type Study } from '../fixtures/generate.ts';
import type { PriorFetch } from '../archive/db/prior-fetch-repository.ts';
import { studiesToRetrieve } from '../archive/prior-fetch/studies-to-retrieve.ts';
import { fetchProgress, fetchRunning } from '../viewer/src/logic/prior-fetch.ts';
import { freePort } from '../bench/peers.ts';
import { browserUnavailable, createUser, ensureViewerBuilt, launchChromium, signIn, waitForCondition, watchForPageProblems } from './support/browser.ts';
import { docImagesBothLanguages } from './support/doc-images.ts';
import { orthancAvailable, startOrthancPeer, type OrthancPeer } from './support/orthanc.ts';
import { requirePeer } from './support/peers.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * Prior fetch (issue 17, query/retrieve SCU): Yingyun pulls a person's earlier studies from a
 * hospital's own PACS — here Orthanc, a real PACS — by Study Root C-FIND on the Patient ID that
 * hospital knows them by, then C-MOVE to itself, so they arrive through the normal ingest path.
 */

const REGION_TODAY = '2026-12-06';

describe('a prior fetch\'s progress bar', () => {
  const fetch = (state: 'queued' | 'retrieving' | 'done', completed: number, failed: number, remaining: number) => ({ state, instancesCompleted: completed, instancesFailed: failed, instancesRemaining: remaining });
  test('done of announced while running; indeterminate before the PACS counts; full once finished', () => {
    assert.deepEqual(fetchProgress(fetch('retrieving', 3, 1, 6)), { value: 4, max: 10 });
    assert.equal(fetchProgress(fetch('queued', 0, 0, 0)), undefined);
    assert.deepEqual(fetchProgress(fetch('done', 0, 0, 0)), { value: 1, max: 1 });
    assert.equal(fetchRunning({ state: 'retrieving' }), true);
    assert.equal(fetchRunning({ state: 'failed' }), false);
  });
});

describe('which studies a prior fetch retrieves', () => {
  const study = (uid: string, studyDate?: string, numberOfInstances?: number) => ({ studyInstanceUid: uid, patientId: 'P', modalitiesInStudy: ['CT'], ...(studyDate ? { studyDate } : {}), ...(numberOfInstances !== undefined ? { numberOfInstances } : {}) });

  test('studies within the look-back that are not held whole, newest first', () => {
    const found = [study('1.1', '20250101', 3), study('1.2', '20260101', 5), study('1.3', '19900101', 2), study('1.4', '20240601', 4), study('1.5', undefined, 1)];
    const held = new Map([['1.1', 3], ['1.4', 2]]);
    const { retrieve, alreadyHeld } = studiesToRetrieve(found, held, { today: REGION_TODAY, lookBackDays: 3650 });
    // 1.1 held whole; 1.3 older than ten years; 1.4 held in part; 1.5 undated, so taken.
    assert.deepEqual(retrieve.map((s) => s.studyInstanceUid), ['1.5', '1.2', '1.4']);
    assert.equal(alreadyHeld, 1);
  });

  test('a study held without a count from the PACS counts as whole', () => {
    const { retrieve, alreadyHeld } = studiesToRetrieve([study('2.1', '20260101')], new Map([['2.1', 1]]), { today: REGION_TODAY, lookBackDays: 30 * 365 });
    assert.deepEqual(retrieve, []);
    assert.equal(alreadyHeld, 1);
  });

  test('the window ends exactly look-back days before today', () => {
    const found = [study('3.1', '20261106'), study('3.2', '20261105')];
    const { retrieve } = studiesToRetrieve(found, new Map(), { today: REGION_TODAY, lookBackDays: 30 });
    assert.deepEqual(retrieve.map((s) => s.studyInstanceUid), ['3.1']);
  });
});

/** A fetch as the REST API answers it (its timestamps as strings). */
type PriorFetchAnswer = Omit<PriorFetch, 'requestedAt' | 'finishedAt'>;

/** Li at Qingshi: a patient of the same hospital with no study in Yingyun before the test sends one. */
const LI_AT_QINGSHI = { name: 'Li^Ji=李^吉', id: 'QS0099887', birthDate: '19880721', sex: 'F' } as const;

describe('prior fetch from a real PACS (Orthanc)', () => {
  let system: TestSystem | undefined;
  let orthanc: OrthancPeer | undefined;
  let peerId = '';
  const ORTHANC_AE = 'QINGSHI_PACS';

  // Three studies of Wang at Qingshi: the one already in Yingyun, a recent one only in the PACS, and
  // one older than the look-back window.
  const study = (date: string, accessionNumber: string): Study => ({ ...STUDIES.wangPriorCt, date, accessionNumber });
  const inYingyun = [...makeSecondaryCaptures({ seed: 'prior-fetch-held', study: study('20260901', 'PF-HELD'), count: 2 })];
  const onlyInPacs = [...makeSecondaryCaptures({ seed: 'prior-fetch-recent', study: study('20250315', 'PF-RECENT'), count: 3 })];
  const tooOld = [...makeSecondaryCaptures({ seed: 'prior-fetch-old', study: study('19990101', 'PF-OLD'), count: 1 })];
  const studyOf = (instances: typeof inYingyun) => instances[0]!.description.studyInstanceUid;

  before(async () => {
    if (!orthancAvailable()) return;
    system = await startTestSystem();
    orthanc = await startOrthancPeer({
      aeTitle: ORTHANC_AE,
      modalities: { yingyun: { aeTitle: system.aeTitle, host: '127.0.0.1', port: system.dicomPort } },
    });
    await system.administration.createInstitution(COMMAND_LINE_ACTOR, { code: 'QSXRMYY', name: '青石县人民医院', kind: 'hospital' });
    const peer = await system.administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode: 'QSXRMYY', aeTitle: ORTHANC_AE, host: '127.0.0.1', port: orthanc.port });
    peerId = peer.id;
    for (const instance of [...inYingyun, ...onlyInPacs, ...tooOld]) await orthanc.upload(instance.bytes);
  });

  after(async () => {
    await orthanc?.stop();
    await system?.shutdown();
  });

  const personOfStudy = async (studyInstanceUid: string): Promise<string> => {
    for (let attempt = 0; attempt < 100; attempt++) {
      const response = await system!.fetch(`${system!.httpUrl}/api/studies/${studyInstanceUid}/person`);
      if (response.ok) {
        const answer = (await response.json()) as { personId: string | null };
        if (answer.personId) return answer.personId;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`study ${studyInstanceUid} was never linked to a person`);
  };

  const fetchesOf = async (personId: string): Promise<PriorFetchAnswer[]> => (await (await system!.fetch(`${system!.httpUrl}/api/persons/${personId}/prior-fetches`)).json()) as PriorFetchAnswer[];

  const finished = async (personId: string, fetchId: string): Promise<PriorFetchAnswer> => {
    for (let attempt = 0; attempt < 300; attempt++) {
      const fetch = (await fetchesOf(personId)).find((candidate) => candidate.id === fetchId);
      if (fetch && (fetch.state === 'done' || fetch.state === 'failed')) return fetch;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`prior fetch ${fetchId} did not finish`);
  };

  const instancesHeld = async (studyInstanceUid: string): Promise<string[]> => {
    const response = await system!.fetch(`${system!.dicomWebUrl}/studies/${studyInstanceUid}/instances`);
    if (response.status === 404) return [];
    assert.equal(response.status, 200);
    return ((await response.json()) as Array<Record<string, { Value?: string[] }>>).map((instance) => instance['00080018']!.Value![0]!).sort();
  };

  const waitForInstances = async (studyInstanceUid: string, count: number, timeoutMs = 20_000): Promise<string[]> => {
    for (let attempt = 0; attempt < timeoutMs / 200; attempt++) {
      const held = await instancesHeld(studyInstanceUid);
      if (held.length >= count) return held;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return instancesHeld(studyInstanceUid);
  };

  test('on demand: the PACS is asked by its own Patient ID, and only what is missing and recent comes over', async (t) => {
    if (!requirePeer(t, orthancAvailable(), 'Orthanc')) return;
    // The hospital's PACS sends the study Yingyun holds (Orthanc C-STOREs it), which gives Wang a record at Qingshi.
    await orthanc!.rest('POST', '/modalities/yingyun/store', { Resources: [await orthancStudyId(orthanc!, studyOf(inYingyun))], Synchronous: true });
    await waitForInstances(studyOf(inYingyun), inYingyun.length);
    const personId = await personOfStudy(studyOf(inYingyun));

    const configured = await system!.fetch(`${system!.httpUrl}/api/admin/prior-fetch-sources/${peerId}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ lookBackDays: 3650 }) });
    assert.equal(configured.status, 200, await configured.clone().text());
    assert.equal(((await configured.json()) as { aeTitle: string }).aeTitle, ORTHANC_AE);

    const asked = await system!.fetch(`${system!.httpUrl}/api/persons/${personId}/prior-fetches`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(asked.status, 202, await asked.clone().text());
    const [opened] = (await asked.json()) as PriorFetchAnswer[];
    assert.equal(opened!.aeTitle, ORTHANC_AE);
    assert.equal(opened!.trigger, 'on-demand');

    const fetch = await finished(personId, opened!.id);
    assert.equal(fetch.state, 'done', fetch.error ?? '');
    assert.equal(fetch.studiesFound, 3, 'the PACS holds three studies of Wang');
    assert.equal(fetch.studiesHeld, 1, 'one of them Yingyun holds whole already');
    assert.equal(fetch.studiesRetrieved, 1, 'the one older than ten years stays where it is');
    assert.equal(fetch.instancesCompleted, onlyInPacs.length);
    assert.equal(fetch.instancesFailed, 0);
    assert.equal(fetch.instancesRemaining, 0);

    const expected = onlyInPacs.map((instance) => instance.description.sopInstanceUid).sort();
    assert.deepEqual(await waitForInstances(studyOf(onlyInPacs), expected.length), expected, 'every instance of the recent study arrived');
    assert.deepEqual(await instancesHeld(studyOf(tooOld)), [], 'the old study was not retrieved');
    // It arrived from the hospital's PACS, so it is filed under that hospital, through the one ingest path.
    const study = (await (await system!.fetch(`${system!.dicomWebUrl}/studies?StudyInstanceUID=${studyOf(onlyInPacs)}&includefield=00100020`)).json()) as Array<Record<string, { Value?: unknown[] }>>;
    assert.equal(study[0]!['00100020']!.Value![0], STUDIES.wangPriorCt.patient.id);

    // Asked again: all found studies in the window are held now, so nothing moves.
    const again = (await (await system!.fetch(`${system!.httpUrl}/api/persons/${personId}/prior-fetches`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).json()) as PriorFetchAnswer[];
    const second = await finished(personId, again[0]!.id);
    assert.equal(second.studiesHeld, 2);
    assert.equal(second.studiesRetrieved, 0);
  });

  test('on arrival: a new study of a person makes Yingyun fetch their other studies from the PACS by itself', async (t) => {
    if (!requirePeer(t, orthancAvailable(), 'Orthanc')) return;
    const liStudy = (date: string, accessionNumber: string): Study => ({ ...STUDIES.wangPriorCt, patient: LI_AT_QINGSHI, date, accessionNumber });
    const arriving = [...makeSecondaryCaptures({ seed: 'prior-fetch-arriving', study: liStudy('20261201', 'PF-LI-NEW'), count: 1 })];
    const earlier = [...makeSecondaryCaptures({ seed: 'prior-fetch-li-earlier', study: liStudy('20240220', 'PF-LI-OLD'), count: 2 })];
    for (const instance of [...arriving, ...earlier]) await orthanc!.upload(instance.bytes);
    const configured = await system!.fetch(`${system!.httpUrl}/api/admin/prior-fetch-sources/${peerId}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ onArrival: true, lookBackDays: 3650 }) });
    assert.equal(configured.status, 200);

    await orthanc!.rest('POST', '/modalities/yingyun/store', { Resources: [await orthancStudyId(orthanc!, studyOf(arriving))], Synchronous: true });
    const expected = earlier.map((instance) => instance.description.sopInstanceUid).sort();
    assert.deepEqual(await waitForInstances(studyOf(earlier), expected.length, 60_000), expected, 'the earlier study came over without anyone asking');
    const personId = await personOfStudy(studyOf(arriving));
    const [fetch] = await fetchesOf(personId);
    assert.equal(fetch!.trigger, 'on-arrival');
    assert.equal(fetch!.requestedBy, null);
    const done = await finished(personId, fetch!.id);
    assert.equal(done.studiesRetrieved, 1);
    assert.equal(done.instancesCompleted, earlier.length);
  });

  test('the person page: 从医院 PACS 调取 shows the fetch\'s progress, then the retrieved study on the timeline', async (t) => {
    if (!requirePeer(t, orthancAvailable(), 'Orthanc')) return;
    if (!requirePeer(t, browserUnavailable() === undefined, 'Chromium')) return;
    const screened = [...makeSecondaryCaptures({ seed: 'prior-fetch-screen', study: study('20260410', 'PF-SCREEN'), count: 4 })];
    for (const instance of screened) await orthanc!.upload(instance.bytes);
    const personId = await personOfStudy(studyOf(inYingyun));
    const [credentials] = await Promise.all([createUser(system!, 'pf-admin', 'system_admin', '孙管理'), ensureViewerBuilt()]);
    const browser = await launchChromium();
    try {
      const page = await (await browser.newContext({ viewport: { width: 1300, height: 860 }, locale: 'zh-CN' })).newPage();
      const problems: string[] = [];
      await watchForPageProblems(page, problems);
      await signIn(page, system!.httpUrl, credentials, `/persons/${personId}`);
      await page.waitForSelector('button[data-action=fetch-priors]');
      assert.equal(await page.locator('.prior-fetches h2').textContent(), '医院 PACS 中的既往检查');
      const earlierFetches = (await fetchesOf(personId)).map((fetch) => fetch.id);
      await page.click('button[data-action=fetch-priors]');
      await waitForCondition(page, `(() => { const row = document.querySelector('.prior-fetch'); return row && !${JSON.stringify(earlierFetches)}.includes(row.getAttribute('data-fetch')) && row.getAttribute('data-state') === 'done'; })()`);
      const row = await page.locator('.prior-fetch').first().textContent();
      assert.ok(row!.includes(ORTHANC_AE) && row!.includes('已完成') && row!.includes('调取 1 个') && row!.includes(`收到 ${screened.length} 幅图像`), row!);
      assert.equal(await page.evaluate(`(() => { const bar = document.querySelector('.prior-fetch progress'); return bar.value === bar.max; })()`), true, 'a finished fetch shows a full bar');
      // The page reloads the timeline when a fetch it watched ends.
      await waitForCondition(page, `document.querySelector('.timeline-study[data-study="${studyOf(screened)}"]') !== null`);
      await docImagesBothLanguages(page, 'query-retrieve-prior-fetch', () => page.waitForSelector('.prior-fetch[data-state=done]').then(() => undefined));
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
    }
  });

  test('a PACS that does not answer leaves a failed fetch saying why', async (t) => {
    if (!requirePeer(t, orthancAvailable(), 'Orthanc')) return;
    const silentPort = await freePort();
    const silent = await system!.administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode: 'QSXRMYY', aeTitle: 'QINGSHI_OLD', host: '127.0.0.1', port: silentPort });
    await system!.fetch(`${system!.httpUrl}/api/admin/prior-fetch-sources/${silent.id}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' });
    const personId = await personOfStudy(studyOf(inYingyun));
    const asked = (await (await system!.fetch(`${system!.httpUrl}/api/persons/${personId}/prior-fetches`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ peerId: silent.id }) })).json()) as PriorFetchAnswer[];
    assert.equal(asked.length, 1);
    const fetch = await finished(personId, asked[0]!.id);
    assert.equal(fetch.state, 'failed');
    assert.match(fetch.error ?? '', /QINGSHI_OLD/);
    assert.match(fetch.error ?? '', /ECONNREFUSED|refused/i);
  });

  test('refusals: an unknown source, a peer without an address, a person the caller cannot see', async (t) => {
    if (!requirePeer(t, orthancAvailable(), 'Orthanc')) return;
    const noAddress = await system!.administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode: 'QSXRMYY', aeTitle: 'QINGSHI_WS' });
    const refused = await system!.fetch(`${system!.httpUrl}/api/admin/prior-fetch-sources/${noAddress.id}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(refused.status, 400);
    assert.match(((await refused.json()) as { detail: string }).detail, /no host and port/);
    const badSettings = await system!.fetch(`${system!.httpUrl}/api/admin/prior-fetch-sources/${peerId}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ lookBackDays: 0 }) });
    assert.equal(badSettings.status, 400);
    const personId = await personOfStudy(studyOf(inYingyun));
    const notASource = await system!.fetch(`${system!.httpUrl}/api/persons/${personId}/prior-fetches`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ peerId: noAddress.id }) });
    assert.equal(notASource.status, 404);
    const nobody = await system!.fetch(`${system!.httpUrl}/api/persons/999999999/prior-fetches`);
    assert.equal(nobody.status, 404);
  });
});

/** Orthanc's ID of a study, found by its Study Instance UID. */
async function orthancStudyId(orthanc: OrthancPeer, studyInstanceUid: string): Promise<string> {
  const response = await fetch(`${orthanc.restUrl}/tools/lookup`, { method: 'POST', body: studyInstanceUid });
  const answer = (await response.json()) as Array<{ ID: string; Type: string }>;
  const study = answer.find((candidate) => candidate.Type === 'Study');
  if (!study) throw new Error(`Orthanc does not hold study ${studyInstanceUid}`);
  return study.ID;
}
