import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair } from 'jose';
// @ts-expect-error oidc-provider ships no type declarations (they are in @types/oidc-provider); the few calls used are typed below.
import UntypedProvider from 'oidc-provider';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { oidcSettings } from '../archive/access/oidc.ts';
import { ConfigError } from '../archive/config.ts';
import { AuditRepository } from '../archive/db/audit-repository.ts';
import { OIDC_FLOW_COOKIE, safeReturnPath } from '../gateway/http/api/oidc-routes.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * OIDC sign-in against a real provider (oidc-provider, configured like a Keycloak realm: consent off,
 * preferred_username in the ID token, PKCE required), driven the way a browser would: plain fetch,
 * redirects followed by hand, cookies carried per origin.
 */

interface Grant {
  addOIDCScope(scope: string): void;
  save(): Promise<string>;
}
interface ProviderContext {
  oidc: {
    provider: OidcProvider;
    client: { clientId: string };
    session: { accountId: string; grantIdFor(clientId: string): string | undefined };
    result?: { consent?: { grantId?: string } };
  };
}
interface OidcProvider {
  callback(): http.RequestListener;
  interactionDetails(request: http.IncomingMessage, response: http.ServerResponse): Promise<{ prompt: { name: string } }>;
  interactionFinished(request: http.IncomingMessage, response: http.ServerResponse, result: object, options: { mergeWithLastSubmission: boolean }): Promise<void>;
  Grant: { new (init: { accountId: string; clientId: string }): Grant; find(id: string): Promise<Grant | undefined> };
}
const Provider = UntypedProvider as new (issuer: string, configuration: object) => OidcProvider;

/** People at the provider, by `sub`. Roles there are deliberately grand: Yingyun must ignore them. */
const identities = new Map<string, { preferred_username: string; name: string }>([
  ['kc-7f3a-li', { preferred_username: 'li.na', name: '李娜' }],
  ['kc-19c2-wang', { preferred_username: 'wang.wei', name: '王伟' }],
  ['kc-55d0-zhao', { preferred_username: 'zhao.unknown', name: '赵某' }],
  ['kc-8e41-dora', { preferred_username: 'dora.disabled', name: 'Dora' }],
]);

const CLIENT_ID = 'yingyun';
const CLIENT_SECRET = 'test-client-secret-0123456789';

/** Starts the provider on 127.0.0.1 with one confidential client whose redirect URI is `redirectUri`. */
async function startProvider(redirectUri: string): Promise<{ issuer: string; close(): Promise<void> }> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const provider = new Provider(issuer, {
    clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [redirectUri], grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic' }],
    jwks: { keys: [{ ...(await exportJWK(privateKey)), alg: 'RS256', use: 'sig', kid: 'test-key' }] },
    cookies: { keys: ['test-provider-cookie-key'] },
    pkce: { required: () => true },
    claims: { openid: ['sub'], profile: ['preferred_username', 'name', 'roles'] },
    // Keycloak's default: profile claims in the ID token too, not only at the userinfo endpoint.
    conformIdTokenClaims: false,
    findAccount: (_context: unknown, sub: string) => {
      const identity = identities.get(sub);
      return identity && { accountId: sub, claims: () => ({ sub, ...identity, roles: ['system_admin'] }) };
    },
    ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600 },
    // Our own login "form" (below) instead of the development-only HTML interactions.
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_context: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    // Consent off, as for a first-party client in Keycloak: every client request is granted.
    loadExistingGrant: async (context: ProviderContext) => {
      const { provider: self, client, session, result } = context.oidc;
      const grantId = result?.consent?.grantId ?? session.grantIdFor(client.clientId);
      if (grantId) return self.Grant.find(grantId);
      const grant = new self.Grant({ accountId: session.accountId, clientId: client.clientId });
      grant.addOIDCScope('openid profile');
      await grant.save();
      return grant;
    },
  });
  const handle = provider.callback();
  server.on('request', (request: http.IncomingMessage, response: http.ServerResponse) => {
    if (request.method === 'POST' && /^\/interaction\/[^/?]+$/.test(request.url ?? '')) {
      // The login form: whoever is named in `login` is signed in (the provider's side is not under test); `cancel` gives up.
      finishLogin(provider, request, response).catch((error: unknown) => {
        response.statusCode = 500;
        response.end(String(error));
      });
    } else {
      handle(request, response);
    }
  });
  return {
    issuer,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function finishLogin(provider: OidcProvider, request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
  let body = '';
  for await (const chunk of request) body += chunk;
  const details = await provider.interactionDetails(request, response);
  assert.equal(details.prompt.name, 'login');
  const form = new URLSearchParams(body);
  const result = form.has('cancel') ? { error: 'access_denied', error_description: 'the user cancelled the sign-in' } : { login: { accountId: form.get('login') } };
  await provider.interactionFinished(request, response, result, { mergeWithLastSubmission: false });
}

/** A browser's cookies, per origin (the provider and Yingyun are both on 127.0.0.1), and no automatic redirects. */
class Browser {
  private readonly jars = new Map<string, Map<string, string>>();
  /** Every Set-Cookie header received, newest last, for checking attributes. */
  readonly setCookies: string[] = [];

  async request(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const target = new URL(url);
    const jar = this.jar(target.host);
    const headers = new Headers(init.headers);
    if (jar.size) headers.set('cookie', [...jar].map(([name, value]) => `${name}=${value}`).join('; '));
    const response = await fetch(target, { ...init, headers, redirect: 'manual' });
    for (const header of response.headers.getSetCookie()) {
      this.setCookies.push(header);
      const [pair = ''] = header.split(';');
      const name = pair.slice(0, pair.indexOf('='));
      const value = pair.slice(pair.indexOf('=') + 1);
      if (value === '' || /expires=thu, 01 jan 1970/i.test(header) || /max-age=0(;|$)/i.test(header)) jar.delete(name);
      else jar.set(name, value);
    }
    return response;
  }

  cookie(url: string, name: string): string | undefined {
    return this.jar(new URL(url).host).get(name);
  }

  private jar(host: string): Map<string, string> {
    let jar = this.jars.get(host);
    if (!jar) this.jars.set(host, (jar = new Map()));
    return jar;
  }
}

function location(response: Response, base: string | URL): URL {
  const value = response.headers.get('location');
  assert.ok(value, `expected a redirect, got ${response.status}`);
  return new URL(value, base);
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('OIDC sign-in (authorization code + PKCE) against a real provider', () => {
  let system: TestSystem;
  let provider: { issuer: string; close(): Promise<void> };
  let audit: AuditRepository;
  let yingyunUrl: string;

  before(async () => {
    // The provider must know the redirect URI, and Yingyun the issuer: Yingyun's port is chosen first.
    yingyunUrl = `http://127.0.0.1:${await freePort()}`;
    provider = await startProvider(`${yingyunUrl}/api/auth/oidc/callback`);
    system = await startTestSystem({
      YINGYUN_HTTP_HOST: '127.0.0.1',
      YINGYUN_HTTP_PORT: new URL(yingyunUrl).port,
      YINGYUN_OIDC_ISSUER: provider.issuer,
      YINGYUN_OIDC_CLIENT_ID: CLIENT_ID,
      YINGYUN_OIDC_CLIENT_SECRET: CLIENT_SECRET,
      YINGYUN_PUBLIC_URL: yingyunUrl,
    });
    assert.equal(system.httpUrl, yingyunUrl);
    audit = new AuditRepository(system.runtime.db.pool);
    const { administration } = system;
    await administration.createUser(COMMAND_LINE_ACTOR, { username: 'li.na', displayName: 'Li Na', role: 'radiologist', institutionCode: 'TEST_HOSPITAL' });
    await administration.createUser(COMMAND_LINE_ACTOR, { username: 'wang.wei', displayName: 'Wang Wei', role: 'radiologist', institutionCode: 'TEST_HOSPITAL', password: 'a long local password' });
    await administration.createUser(COMMAND_LINE_ACTOR, { username: 'dora.disabled', displayName: 'Dora', role: 'referring_doctor', institutionCode: 'TEST_HOSPITAL' });
    await administration.updateUser(COMMAND_LINE_ACTOR, 'dora.disabled', { disabled: true });
  });

  after(async () => {
    await system?.shutdown();
    await provider?.close();
  });

  /** From Yingyun's login route through the provider's login (as `sub`, or cancelled), up to (not into) Yingyun's callback. */
  async function signInAtProvider(browser: Browser, sub: string | 'cancel', returnTo = '/'): Promise<URL> {
    const start = await browser.request(`${yingyunUrl}/api/auth/oidc/login?returnTo=${encodeURIComponent(returnTo)}`);
    assert.equal(start.status, 302);
    let next = location(start, yingyunUrl);
    for (let hop = 0; hop < 10; hop++) {
      if (next.origin === yingyunUrl) return next;
      const response = /^\/interaction\//.test(next.pathname)
        ? await browser.request(next, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(sub === 'cancel' ? { cancel: '1' } : { login: sub }).toString() })
        : await browser.request(next);
      assert.ok(response.status >= 300 && response.status < 400, `the provider answered ${response.status} at ${next.pathname}: ${await response.text()}`);
      next = location(response, next);
    }
    assert.fail('the provider never sent the browser back');
  }

  async function lastLoginEvent(userName: string) {
    const [event] = await audit.search({ eventType: 'login', userName, limit: 1 });
    assert.ok(event, `no login event for ${userName}`);
    return event;
  }

  it('signs in an account made for OIDC, links it, and the session works', async () => {
    const browser = new Browser();
    const start = await browser.request(`${yingyunUrl}/api/auth/oidc/login?returnTo=${encodeURIComponent('/studies?patient=1')}`);
    assert.equal(start.status, 302);
    const authorization = location(start, yingyunUrl);
    assert.equal(authorization.origin, provider.issuer);
    assert.equal(authorization.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(authorization.searchParams.get('redirect_uri'), `${yingyunUrl}/api/auth/oidc/callback`);
    for (const parameter of ['state', 'nonce', 'code_challenge']) assert.ok(authorization.searchParams.get(parameter), parameter);
    const flowCookie = browser.setCookies.find((header) => header.startsWith(`${OIDC_FLOW_COOKIE}=`));
    assert.match(flowCookie ?? '', /; HttpOnly/i);
    assert.match(flowCookie ?? '', /; SameSite=Lax/i);
    assert.match(flowCookie ?? '', /; Path=\/api\/auth\/oidc/i);

    const callback = await signInAtProvider(browser, 'kc-7f3a-li', '/studies?patient=1');
    assert.equal(callback.pathname, '/api/auth/oidc/callback');
    const landed = await browser.request(callback);
    assert.equal(landed.status, 302, await landed.text());
    assert.equal(landed.headers.get('location'), '/studies?patient=1');
    assert.ok(browser.cookie(yingyunUrl, 'yingyun_session'));
    assert.equal(browser.cookie(yingyunUrl, OIDC_FLOW_COOKIE), undefined, 'the flow cookie is spent');

    const me = await browser.request(`${yingyunUrl}/api/auth/me`);
    assert.equal(me.status, 200);
    const body = (await me.json()) as { username: string; role: string; via: string; institutionId: string };
    // The role is Yingyun's: the provider's `roles: ['system_admin']` claim is ignored.
    assert.deepEqual({ username: body.username, role: body.role, via: body.via, institutionId: body.institutionId }, { username: 'li.na', role: 'radiologist', via: 'session', institutionId: system.institutionId });

    const linked = await system.runtime.users.findByUsername('li.na');
    assert.equal(linked?.oidcIssuer, provider.issuer);
    assert.equal(linked?.oidcSubject, 'kc-7f3a-li');
    const event = await lastLoginEvent('li.na');
    assert.equal(event.outcome, 0);
    assert.equal((event.detail as { method?: string }).method, 'oidc');

    // The CSRF companion cookie came too: the app can sign out.
    const logout = await browser.request(`${yingyunUrl}/api/auth/logout`, { method: 'POST', headers: { 'x-csrf-token': browser.cookie(yingyunUrl, 'yingyun_csrf') ?? '' } });
    assert.equal(logout.status, 204);
  });

  it('finds a linked account by (issuer, sub), even after a rename at the provider', async () => {
    identities.set('kc-7f3a-li', { preferred_username: 'li.na.renamed', name: '李娜' });
    try {
      const browser = new Browser();
      const landed = await browser.request(await signInAtProvider(browser, 'kc-7f3a-li'));
      assert.equal(landed.status, 302, await landed.text());
      const me = (await (await browser.request(`${yingyunUrl}/api/auth/me`)).json()) as { username: string };
      assert.equal(me.username, 'li.na');
    } finally {
      identities.set('kc-7f3a-li', { preferred_username: 'li.na', name: '李娜' });
    }
  });

  it('refuses an identity with no Yingyun account, and audits it', async () => {
    const browser = new Browser();
    const refused = await browser.request(await signInAtProvider(browser, 'kc-55d0-zhao'));
    assert.equal(refused.status, 403);
    assert.match(refused.headers.get('content-type') ?? '', /application\/problem\+json/);
    const problem = (await refused.json()) as { detail: string; reason: string };
    assert.equal(problem.reason, 'unknown-identity');
    assert.match(problem.detail, /no Yingyun account for this identity.*ask your administrator/);
    assert.equal(browser.cookie(yingyunUrl, 'yingyun_session'), undefined);
    const event = await lastLoginEvent('zhao.unknown');
    assert.equal(event.outcome, 4);
    assert.deepEqual(event.detail, { method: 'oidc', reason: 'unknown-identity', issuer: provider.issuer, subject: 'kc-55d0-zhao' });
  });

  it('never links an account that has a password, whatever the provider calls the person', async () => {
    const browser = new Browser();
    const refused = await browser.request(await signInAtProvider(browser, 'kc-19c2-wang'));
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { reason: string }).reason, 'unknown-identity');
    const wang = await system.runtime.users.findByUsername('wang.wei');
    assert.equal(wang?.oidcSubject, null);
    assert.equal((await lastLoginEvent('wang.wei')).outcome, 4);
  });

  it('refuses a disabled account, and audits it', async () => {
    const browser = new Browser();
    const refused = await browser.request(await signInAtProvider(browser, 'kc-8e41-dora'));
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { reason: string }).reason, 'disabled');
    assert.equal(browser.cookie(yingyunUrl, 'yingyun_session'), undefined);
    assert.equal((await system.runtime.users.findByUsername('dora.disabled'))?.oidcSubject, null);
    const event = await lastLoginEvent('dora.disabled');
    assert.equal(event.outcome, 4);
    assert.equal((event.detail as { reason?: string }).reason, 'disabled');
  });

  it("refuses a callback that is not this browser's sign-in (state mismatch, no flow cookie)", async () => {
    // Login CSRF: the attacker's own code and state, delivered to the victim's browser mid-sign-in.
    const attacker = new Browser();
    const attackersCallback = await signInAtProvider(attacker, 'kc-7f3a-li');
    const victim = new Browser();
    assert.equal((await victim.request(`${yingyunUrl}/api/auth/oidc/login`)).status, 302);
    const before = (await audit.search({ eventType: 'login', limit: 1 }))[0]?.id;
    const mismatched = await victim.request(attackersCallback);
    assert.equal(mismatched.status, 400);
    assert.equal(((await mismatched.json()) as { reason: string }).reason, 'invalid-state');
    assert.equal(victim.cookie(yingyunUrl, 'yingyun_session'), undefined);
    const [event] = await audit.search({ eventType: 'login', limit: 1 });
    assert.notEqual(event?.id, before);
    assert.equal(event?.outcome, 4);
    assert.deepEqual(event?.detail, { method: 'oidc', reason: 'invalid-state' });

    const stranger = new Browser();
    const withoutFlow = await stranger.request(attackersCallback);
    assert.equal(withoutFlow.status, 400);
    assert.equal(((await withoutFlow.json()) as { reason: string }).reason, 'invalid-state');
  });

  it('refuses a sign-in the person cancelled at the provider, and audits it', async () => {
    const browser = new Browser();
    const callback = await signInAtProvider(browser, 'cancel');
    assert.equal(callback.searchParams.get('error'), 'access_denied');
    const refused = await browser.request(callback);
    assert.equal(refused.status, 401);
    const problem = (await refused.json()) as { reason: string; detail: string };
    assert.equal(problem.reason, 'provider-error');
    assert.match(problem.detail, /access_denied/);
    const [event] = await audit.search({ eventType: 'login', limit: 1 });
    assert.deepEqual({ outcome: event?.outcome, detail: event?.detail }, { outcome: 4, detail: { method: 'oidc', reason: 'provider-error' } });
  });

  it('returns only to a local path: an open redirect falls back to /', async () => {
    const browser = new Browser();
    const landed = await browser.request(await signInAtProvider(browser, 'kc-7f3a-li', '//evil.example/phish'));
    assert.equal(landed.status, 302);
    assert.equal(landed.headers.get('location'), '/');
    assert.ok(browser.cookie(yingyunUrl, 'yingyun_session'));
  });
});

describe('OIDC pieces', () => {
  it('accepts only a path on this site as returnTo', () => {
    for (const accepted of ['/', '/studies', '/viewer?study=1.2.3#frame=4', '/a/b//c', '/%2F%2Fevil.example']) assert.equal(safeReturnPath(accepted), accepted);
    for (const refused of ['//evil.example', '/\\evil.example', '/\t/evil.example', '/\n/evil.example', 'https://evil.example/', 'evil', '', undefined, ['/a', '/b']]) {
      assert.equal(safeReturnPath(refused), '/', JSON.stringify(refused));
    }
  });

  it('insists on an https issuer (http only on this machine) and on YINGYUN_PUBLIC_URL', () => {
    const oidc = { issuer: 'http://sso.example.cn/realms/yingyun', clientId: CLIENT_ID };
    assert.throws(() => oidcSettings({ oidc, publicUrl: 'https://pacs.example.cn' }), (error: unknown) => error instanceof ConfigError && /https/.test(error.message));
    assert.throws(() => oidcSettings({ oidc: { ...oidc, issuer: 'https://sso.example.cn/realms/yingyun' } }), /YINGYUN_PUBLIC_URL/);
    assert.equal(oidcSettings({ publicUrl: 'https://pacs.example.cn' }), null);
    const local = oidcSettings({ oidc: { ...oidc, issuer: 'http://localhost:8080/realms/dev' }, publicUrl: 'http://localhost:8042' });
    assert.equal(local?.allowHttp, true);
    const behindProxy = oidcSettings({ oidc: { ...oidc, issuer: 'https://sso.example.cn/realms/yingyun' }, publicUrl: 'https://example.cn/pacs' });
    assert.equal(behindProxy?.redirectUri.href, 'https://example.cn/pacs/api/auth/oidc/callback');
    assert.equal(behindProxy?.allowHttp, false);
  });
});
