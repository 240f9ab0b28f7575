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

  it('locks an account after consecutive failures, even for the right password, until an administrator resets it', async () => {
    for (let attempt = 0; attempt < 3; attempt++) assert.equal((await login('locked-out', 'wrong password')).status, attempt < 2 ? 401 : 423);
    const locked = await login('locked-out', PASSWORD);
    assert.equal(locked.status, 423);
    assert.ok(Number(locked.headers.get('retry-after')) > 0);
    await system.administration.updateUser(COMMAND_LINE_ACTOR, 'locked-out', { password: 'a brand new password' });
    assert.equal((await login('locked-out', 'a brand new password')).status, 200);
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
