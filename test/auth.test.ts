import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

const PASSWORD = 'correct horse battery staple';

/** Cookies a response set, by name, with their attributes as sent. */
function setCookies(response: Response): Map<string, { value: string; attributes: string }> {
  const cookies = new Map<string, { value: string; attributes: string }>();
  for (const header of response.headers.getSetCookie()) {
    const [pair = '', ...attributes] = header.split(';');
    const separator = pair.indexOf('=');
    cookies.set(pair.slice(0, separator).trim(), { value: pair.slice(separator + 1), attributes: attributes.join(';').toLowerCase() });
  }
  return cookies;
}

describe('sign-in, sessions, tokens and the protections around them', () => {
  let system: TestSystem;
  const anonymous = { authorization: '' };
  const login = (username: string, password: string, headers: Record<string, string> = {}) =>
    system.fetch(`${system.httpUrl}/api/auth/login`, { method: 'POST', headers: { ...anonymous, 'Content-Type': 'application/json', ...headers }, body: JSON.stringify({ username, password }) });

  before(async () => {
    system = await startTestSystem({ YINGYUN_ADMIN_PASSWORD: 'bootstrap-admin-password', YINGYUN_LOGIN_LOCK_AFTER: '3' });
    for (const username of ['reader', 'locked-out', 'leaver']) {
      await system.administration.createUser(COMMAND_LINE_ACTOR, { username, displayName: username, role: 'radiologist', institutionCode: 'TEST_HOSPITAL', password: PASSWORD });
    }
  });
  after(() => system?.shutdown());

  it('creates the first administrator from YINGYUN_ADMIN_PASSWORD, who can sign in', async () => {
    assert.deepEqual(system.bootstrapAdmin, { username: 'admin', password: 'bootstrap-admin-password', generated: false });
    assert.equal((await login('admin', 'bootstrap-admin-password')).status, 200);
  });

  it('signs in with a cookie session: HttpOnly, SameSite=Strict, and a CSRF token for unsafe requests', async () => {
    const wrong = await login('reader', 'not the password');
    assert.equal(wrong.status, 401);
    assert.match(((await wrong.json()) as { detail: string }).detail, /user name or password is wrong/);
    const wrongZh = await login('reader', 'not the password', { 'Accept-Language': 'zh-CN' });
    assert.match(((await wrongZh.json()) as { detail: string }).detail, /用户名或密码错误/);
    assert.equal((await login('nobody-by-this-name', PASSWORD)).status, 401, 'an unknown user gets the same answer');

    const response = await login('reader', PASSWORD);
    assert.equal(response.status, 200);
    const body = (await response.json()) as { username: string; role: string; csrfToken: string; permissions: string[] };
    assert.equal(body.username, 'reader');
    assert.ok(body.permissions.includes('read-images'));
    const cookies = setCookies(response);
    const session = cookies.get('yingyun_session')!;
    assert.ok(session, 'a session cookie');
    assert.match(session.attributes, /httponly/);
    assert.match(session.attributes, /samesite=strict/);
    assert.match(session.attributes, /path=\//);
    assert.equal(cookies.get('yingyun_csrf')?.value, body.csrfToken);
    assert.doesNotMatch(cookies.get('yingyun_csrf')!.attributes, /httponly/, 'the app must be able to read the CSRF token');

    const cookie = `yingyun_session=${session.value}; yingyun_csrf=${body.csrfToken}`;
    const me = await system.fetch(`${system.httpUrl}/api/auth/me`, { headers: { ...anonymous, cookie } });
    assert.equal(me.status, 200);
    assert.equal(((await me.json()) as { username: string }).username, 'reader');
    assert.equal((await system.fetch(`${system.dicomWebUrl}/studies`, { headers: { ...anonymous, cookie } })).status, 200, 'the cookie opens DICOMweb');

    const withoutCsrf = await system.fetch(`${system.httpUrl}/api/auth/logout`, { method: 'POST', headers: { ...anonymous, cookie } });
    assert.equal(withoutCsrf.status, 403, 'an unsafe request with the cookie alone is refused');
    const logout = await system.fetch(`${system.httpUrl}/api/auth/logout`, { method: 'POST', headers: { ...anonymous, cookie, 'X-CSRF-Token': body.csrfToken } });
    assert.equal(logout.status, 204);
    assert.equal((await system.fetch(`${system.httpUrl}/api/auth/me`, { headers: { ...anonymous, cookie } })).status, 401, 'the session is revoked at once, although its token has not expired');
  });

  it('accepts credentials only as JSON, and small', async () => {
    const form = await system.fetch(`${system.httpUrl}/api/auth/login`, { method: 'POST', headers: { ...anonymous, 'Content-Type': 'application/x-www-form-urlencoded' }, body: `username=reader&password=${PASSWORD}` });
    assert.equal(form.status, 415, 'a cross-site form cannot sign anyone in');
    const huge = await system.fetch(`${system.httpUrl}/api/auth/login`, { method: 'POST', headers: { ...anonymous, 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'reader', password: 'x'.repeat(10_000) }) });
    assert.equal(huge.status, 413);
    assert.equal((await huge.json() as { status: number }).status, 413, 'as problem JSON');
  });

  it('answers every failed sign-in alike: unknown user, wrong password, disabled account, backing off', async () => {
    await system.administration.createUser(COMMAND_LINE_ACTOR, { username: 'dormant', displayName: 'dormant', role: 'radiologist', institutionCode: 'TEST_HOSPITAL', password: PASSWORD });
    await system.administration.updateUser(COMMAND_LINE_ACTOR, 'dormant', { disabled: true });
    const answer = async (username: string, password: string) => {
      const response = await login(username, password);
      return { status: response.status, body: await response.text(), retryAfter: response.headers.get('retry-after') };
    };
    const unknown = await answer('nobody-by-this-name', 'a wrong password');
    const wrong = await answer('reader', 'a wrong password');
    const disabled = await answer('dormant', PASSWORD);
    for (const other of [wrong, disabled]) assert.deepEqual(other, unknown, 'the same status, body and headers whether or not the account exists');
    assert.equal(unknown.status, 401);
    // Two more failures from this address (YINGYUN_LOGIN_LOCK_AFTER=3): both names now wait, alike.
    for (const username of ['nobody-by-this-name', 'reader']) {
      await answer(username, 'a wrong password');
      const third = await answer(username, 'a wrong password');
      assert.equal(third.status, 401);
      assert.equal(third.body, unknown.body);
      assert.equal(third.retryAfter, '1', `${username}: the third failure makes this address wait a second`);
    }
    const events = await system.runtime.db.pool.query<{ reason: string }>(`SELECT detail->>'reason' AS reason FROM audit_events WHERE event_type = 'login' AND outcome = 4 AND user_name = 'dormant'`);
    assert.deepEqual(events.rows.map((row) => row.reason), ['disabled'], 'the audit trail still says what really happened');
  });

  it('backs off per user name and source address, doubling, so a stranger cannot lock the user out', async () => {
    const auth = system.runtime.auth;
    const attacker = '198.51.100.7';
    const failure = async (password: string, source: string) => {
      const error = await auth.login('locked-out', password, source).then(() => assert.fail('signed in'), (caught: unknown) => caught as { retryAfterSeconds?: number });
      return error.retryAfterSeconds;
    };
    assert.equal(await failure('wrong one', attacker), undefined);
    assert.equal(await failure('wrong two', attacker), undefined);
    assert.equal(await failure('wrong three', attacker), 1, 'from the third failure on, that address waits');
    assert.equal(await failure(PASSWORD, attacker), 1, 'even the right password waits, from that address');
    // Meanwhile the user, from the hospital's address, signs in as always.
    const session = await auth.login('locked-out', PASSWORD, '203.0.113.20');
    assert.equal(session.user.username, 'locked-out');
    assert.equal((await login('locked-out', PASSWORD)).status, 200, 'and over HTTP from yet another address');
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    assert.equal(await failure('wrong four', attacker), 2, 'the wait doubles');
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    assert.equal(await failure('wrong five', attacker), 4);
    // An administrator's new password lifts every wait on the account.
    await system.administration.updateUser(COMMAND_LINE_ACTOR, 'locked-out', { password: 'a brand new password' });
    assert.equal((await auth.login('locked-out', 'a brand new password', attacker)).user.username, 'locked-out');
  });

  it('refuses common passwords and ones built on the user name', async () => {
    for (const [password, reason] of [
      ['password1234', /most common/],
      ['Password2024!', /most common/],
      ['qwertyuiop123', /most common/],
      ['aaaaaaaaaaaaaa', /most common/],
      ['xx-reader-2026-xx', /user name/],
    ] as const) {
      await assert.rejects(system.administration.updateUser(COMMAND_LINE_ACTOR, 'reader', { password }), reason, password);
    }
    await assert.rejects(system.administration.createUser(COMMAND_LINE_ACTOR, { username: 'newcomer', displayName: 'n', role: 'radiologist', institutionCode: 'TEST_HOSPITAL', password: 'iloveyou12345' }), /most common/);
  });

  it('revokes API tokens and every session of a disabled user', async () => {
    const { token, id } = await system.administration.createToken(COMMAND_LINE_ACTOR, { username: 'leaver', label: 'script', days: 30 });
    const bearer = { authorization: `Bearer ${token}` };
    assert.equal((await system.fetch(`${system.dicomWebUrl}/studies`, { headers: bearer })).status, 200);
    const session = setCookies(await login('leaver', PASSWORD)).get('yingyun_session')!.value;
    await system.administration.revokeToken(COMMAND_LINE_ACTOR, id);
    assert.equal((await system.fetch(`${system.dicomWebUrl}/studies`, { headers: bearer })).status, 401, 'a revoked token');
    const { token: second } = await system.administration.createToken(COMMAND_LINE_ACTOR, { username: 'leaver', label: 'second', days: 30 });
    await system.administration.updateUser(COMMAND_LINE_ACTOR, 'leaver', { disabled: true });
    assert.equal((await system.fetch(`${system.dicomWebUrl}/studies`, { headers: { authorization: `Bearer ${second}` } })).status, 401, 'a disabled user’s token');
    assert.equal((await system.fetch(`${system.dicomWebUrl}/studies`, { headers: { ...anonymous, cookie: `yingyun_session=${session}` } })).status, 401, 'a disabled user’s session');
    assert.equal((await login('leaver', PASSWORD)).status, 401);
    const forged = token.replace(/.$/, (last) => (last === 'A' ? 'B' : 'A'));
    assert.equal((await system.fetch(`${system.dicomWebUrl}/studies`, { headers: { authorization: `Bearer ${forged}` } })).status, 401, 'a token with a wrong secret');
  });

  it('sends security headers and a strict Content-Security-Policy, and never a stack trace', async () => {
    const response = await system.fetch(`${system.httpUrl}/healthz`);
    const csp = response.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /object-src 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    assert.match(response.headers.get('strict-transport-security') ?? '', /max-age=31536000/);
    assert.equal(response.headers.get('x-powered-by'), null);
    const broken = await system.fetch(`${system.httpUrl}/api/auth/login`, { method: 'POST', headers: { ...anonymous, 'Content-Type': 'application/json' }, body: '{"username": ' });
    assert.equal(broken.status, 400);
    const text = await broken.text();
    assert.doesNotMatch(text, /at .*\.ts:\d+|node_modules|SyntaxError: /, 'no stack or internals');
  });

  it('slows down a password spray from one address', async () => {
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 40; attempt++) statuses.push((await login(`spray-${attempt}`, 'guess')).status);
    assert.ok(statuses.includes(429), `some attempts answered 429 Too Many Requests: ${statuses.join(',')}`);
    assert.equal(statuses.indexOf(429) > 0 && statuses.slice(statuses.indexOf(429)).every((status) => status === 429), true);
  });
});
