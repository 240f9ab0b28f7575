import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { regionToday } from '../archive/recognition/region-day.ts';
import { browserUnavailable, createUser, signIn, startViewerSuite, type Credentials, type ViewerSuite } from './support/browser.ts';
import { docImage } from './support/doc-images.ts';

/**
 * The 互认配置 tab in headless Chromium: a system administrator chooses 重庆市, is told why an
 * abbreviation in Latin letters is refused (on the field), lengthens the validity of chest
 * radiographs to 45 days, accredits 渝北区人民医院 for them and withdraws it again; the archive's
 * API reads back each change.
 */
const unavailable = browserUnavailable();

describe('the recognition configuration screen', { skip: unavailable }, () => {
  let suite: ViewerSuite;
  let regionId: string;
  let hospitalId: string;
  let token: string;
  let admin: Credentials;

  const read = async <T>(path: string): Promise<T> => {
    const answer = await fetch(`${suite.system.httpUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(answer.status, 200, path);
    return (await answer.json()) as T;
  };

  before(async () => {
    suite = await startViewerSuite([]);
    const { administration } = suite.system;
    regionId = (await administration.createRegion(COMMAND_LINE_ACTOR, { code: 'CQ', name: '重庆市', level: 'province' })).id;
    hospitalId = (await administration.createInstitution(COMMAND_LINE_ACTOR, { code: 'YUBEI', name: '渝北区人民医院', kind: 'hospital', regionCode: 'CQ' })).id;
    admin = await createUser(suite.system, 'region-admin', 'system_admin', '王主任');
    token = (await administration.createToken(COMMAND_LINE_ACTOR, { username: 'region-admin', label: 'recognition-admin-screen' })).token;
  });
  after(async () => suite?.close());

  it('changes an item\'s validity and accredits an institution, read back through the API', async () => {
    const page = await suite.newPage('zh-CN');
    await signIn(page, suite.system.httpUrl, admin, '/admin?tab=recognition');
    await page.waitForSelector('[data-tab=recognition] select[data-field=recognition-region]');
    await page.selectOption('select[data-field=recognition-region]', regionId);
    const form = page.locator('form[data-form=recognition]');
    const chestRow = form.locator('[data-table=recognition-items] tr', { has: page.locator('input[data-field=code][value="DR-CHEST"]') });
    await chestRow.waitFor();
    assert.equal(await page.locator('[data-preview=hr-mark]').textContent(), '渝HR', 'the shipped abbreviation');

    // The archive's reason lands on the field it names.
    await form.locator('input[name=abbreviation]').fill('CQ');
    assert.equal(await page.locator('[data-preview=hr-mark]').textContent(), 'CQHR');
    await form.locator('[data-action=save-recognition]').click();
    await page.waitForSelector('form[data-form=recognition] input[name=abbreviation][aria-invalid=true]');
    assert.match((await form.locator('.form-outcome').textContent()) ?? '', /configuration\.abbreviation/);

    await form.locator('input[name=abbreviation]').fill('渝');
    await chestRow.locator('input[data-field=validityDays]').fill('45');
    await form.locator('[data-action=save-recognition]').click();
    await page.waitForSelector('.recognition-source:has-text("本区域自定义")');
    const saved = await read<{ own: { configuration: { items: { code: string; validityDays: number; label: unknown }[] } } }>(`/api/admin/regions/${regionId}/recognition`);
    const chest = saved.own.configuration.items.find((item) => item.code === 'DR-CHEST')!;
    assert.equal(chest.validityDays, 45);
    assert.deepEqual(chest.label, { key: 'recognition.item.DR-CHEST' }, 'an untouched name stays the catalogue\'s');

    const accredit = page.locator('form[data-form=accredit]');
    await accredit.locator('select[name=institutionId]').selectOption(hospitalId);
    await accredit.locator('select[name=itemCode]').selectOption('DR-CHEST');
    await accredit.locator('[data-action=accredit]').click();
    await page.waitForSelector('[data-table=accreditations] [data-status=current]');
    assert.equal(await page.locator('[data-table=accreditations] [data-status=current]').textContent(), '有效');
    const [granted] = await read<{ id: string; institutionId: string; itemCode: string; validFrom: string; validUntil: string | null; grantedByName: string }[]>(`/api/admin/regions/${regionId}/accreditations`);
    assert.deepEqual(
      { institutionId: granted?.institutionId, itemCode: granted?.itemCode, validFrom: granted?.validFrom, validUntil: granted?.validUntil, grantedByName: granted?.grantedByName },
      { institutionId: hospitalId, itemCode: 'DR-CHEST', validFrom: regionToday(), validUntil: null, grantedByName: 'region-admin' },
    );
    // Tall enough for the guide to show the configuration and the accreditations in one picture.
    await page.setViewportSize({ width: 1400, height: 1700 });
    await page.evaluate('window.scrollTo(0, 0)');
    await docImage(page, 'recognition-admin-zh');

    const withdraw = page.locator(`form[data-form="withdraw-${granted!.id}"]`);
    await withdraw.locator('input[name=reason]').fill('外部质控未通过');
    await withdraw.locator('[data-action=withdraw-accreditation]').click();
    await page.waitForSelector('[data-table=accreditations] [data-status=withdrawn]');
    const [withdrawn] = await read<{ withdrawalReason: string | null }[]>(`/api/admin/regions/${regionId}/accreditations`);
    assert.equal(withdrawn?.withdrawalReason, '外部质控未通过');
    assert.deepEqual(suite.problems, []);
  });
});
