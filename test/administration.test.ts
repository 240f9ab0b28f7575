import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { COMMAND_LINE_ACTOR, type Actor } from '../archive/access/administration.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * Issue 13, finding 8: an institution administrator has no access to patient data, and must not be
 * able to give it to an account they control — their own by a role change, a radiologist whose
 * password they chose, or a token minted for someone else. Taking access away stays theirs.
 */
describe('who may grant access to patient data', () => {
  let system: TestSystem;
  let institutionAdmin: Actor;
  let systemAdmin: Actor;
  const PASSWORD = 'a long enough password';

  before(async () => {
    system = await startTestSystem();
    const administration = system.administration;
    const created = await administration.createUser(COMMAND_LINE_ACTOR, { username: 'ia', displayName: 'ia', role: 'institution_admin', institutionCode: 'TEST_HOSPITAL', password: PASSWORD });
    institutionAdmin = { username: 'ia', role: 'institution_admin', institutionId: created.institutionId };
    await administration.createUser(COMMAND_LINE_ACTOR, { username: 'sa', displayName: 'sa', role: 'system_admin', password: PASSWORD });
    systemAdmin = { username: 'sa', role: 'system_admin', institutionId: null };
    await administration.createUser(COMMAND_LINE_ACTOR, { username: 'rad', displayName: 'rad', role: 'radiologist', institutionCode: 'TEST_HOSPITAL', password: PASSWORD });
  });
  after(() => system?.shutdown());

  const refusedEvents = async () =>
    (await system.runtime.db.pool.query<{ reason: string }>(`SELECT detail->>'reason' AS reason FROM audit_events WHERE event_type = 'admin-change' AND outcome = 4 ORDER BY id`)).rows.map((row) => row.reason);

  it('refuses an institution administrator every way of reaching images, and audits each refusal', async () => {
    const administration = system.administration;
    const before = (await refusedEvents()).length;
    await assert.rejects(administration.updateUser(institutionAdmin, 'ia', { role: 'radiologist' }), /own role/);
    await assert.rejects(administration.createUser(institutionAdmin, { username: 'puppet', displayName: 'p', role: 'radiologist', password: PASSWORD }), /only a system administrator may grant the radiologist role/);
    await assert.rejects(administration.createUser(institutionAdmin, { username: 'puppet', displayName: 'p', role: 'qc_staff' }), /grant the qc_staff role/);
    await assert.rejects(administration.updateUser(institutionAdmin, 'rad', { password: 'another long password' }), /only a system administrator may change a radiologist/);
    await assert.rejects(administration.updateUser(institutionAdmin, 'rad', { role: 'institution_admin' }), /only a system administrator may change a radiologist/);
    await assert.rejects(administration.createToken(institutionAdmin, { username: 'rad', label: 'stolen' }), /API token for a radiologist/);
    const refusals = (await refusedEvents()).slice(before);
    assert.equal(refusals.length, 6, `each refusal audited: ${refusals.join(' | ')}`);
    // And nothing changed: the radiologist signs in with the old password, the administrator is still one.
    assert.equal((await system.runtime.auth.login('rad', PASSWORD, '127.0.0.1')).user.role, 'radiologist');
    assert.equal((await system.runtime.users.findByUsername('ia'))!.role, 'institution_admin');
    assert.equal(await system.runtime.users.findByUsername('puppet'), null);
  });

  it('lets an institution administrator manage accounts without patient data, disable anyone of theirs, and mint their own token', async () => {
    const administration = system.administration;
    const deputy = await administration.createUser(institutionAdmin, { username: 'deputy', displayName: 'd', role: 'institution_admin', password: PASSWORD });
    assert.equal(deputy.role, 'institution_admin');
    await administration.updateUser(institutionAdmin, 'deputy', { password: 'another long password' });
    await administration.createToken(institutionAdmin, { username: 'deputy', label: 'automation' });
    await administration.createToken(institutionAdmin, { username: 'ia', label: 'my own' });
    const disabled = await administration.updateUser(institutionAdmin, 'rad', { disabled: true });
    assert.equal(disabled.disabled, true, 'taking access away is always allowed');
    await assert.rejects(administration.updateUser(institutionAdmin, 'rad', { disabled: false }), /only a system administrator/, 'giving it back is not');
  });

  it('leaves granting to a system administrator, who still may not change their own role', async () => {
    const administration = system.administration;
    await administration.updateUser(systemAdmin, 'rad', { disabled: false, password: 'another long password' });
    const reader = await administration.createUser(systemAdmin, { username: 'reader2', displayName: 'r', role: 'radiologist', institutionCode: 'TEST_HOSPITAL', password: PASSWORD });
    assert.equal(reader.role, 'radiologist');
    await administration.createToken(systemAdmin, { username: 'reader2', label: 'modality' });
    await assert.rejects(administration.updateUser(systemAdmin, 'sa', { role: 'auditor' }), /own role/);
    const granted = (await system.runtime.db.pool.query(`SELECT 1 FROM audit_events WHERE event_type = 'admin-change' AND outcome = 0 AND user_name = 'sa'`)).rowCount;
    assert.ok(granted! >= 3, 'granted changes are audited too');
  });
});
