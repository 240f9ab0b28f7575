import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import { after, before, describe, it } from 'node:test';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { makeCertificates, type Certificates } from './support/certificates.ts';
import { commandExists, requirePeer } from './support/peers.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/** A request over TLS, trusting only the test CA (fetch cannot be given a CA without another package). */
function request(url: string, ca: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = https.request(url, { method: options.method ?? 'GET', headers: options.headers, ca: fs.readFileSync(ca) }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body }));
    });
    outgoing.on('error', reject);
    outgoing.end(options.body);
  });
}

describe('HTTPS when certificates are configured', () => {
  let system: TestSystem | undefined;
  let certificates: Certificates;
  let base: string;

  before(async () => {
    if (!commandExists('openssl')) return;
    certificates = makeCertificates();
    system = await startTestSystem({ YINGYUN_HTTPS_CERT: certificates.serverCert, YINGYUN_HTTPS_KEY: certificates.serverKey });
    base = `https://127.0.0.1:${system.httpPort}`;
    await system.administration.createUser(COMMAND_LINE_ACTOR, { username: 'tls-reader', displayName: 'x', role: 'radiologist', institutionCode: 'TEST_HOSPITAL', password: 'a password long enough' });
  });
  after(async () => {
    await system?.shutdown();
    if (certificates) fs.rmSync(certificates.dir, { recursive: true, force: true });
  });

  it('serves over TLS only, and marks the session cookie Secure', async (t) => {
    if (!requirePeer(t, commandExists('openssl'), 'openssl')) return;
    const health = await request(`${base}/healthz`, certificates.caCert);
    assert.equal(health.status, 200);
    await assert.rejects(fetch(`http://127.0.0.1:${system!.httpPort}/healthz`), 'plain HTTP is not answered on the HTTPS port');
    const login = await request(`${base}/api/auth/login`, certificates.caCert, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'tls-reader', password: 'a password long enough' }) });
    assert.equal(login.status, 200, login.body);
    const cookies = (login.headers['set-cookie'] as string[]).map((cookie) => cookie.toLowerCase());
    for (const name of ['yingyun_session', 'yingyun_csrf']) {
      const cookie = cookies.find((candidate) => candidate.startsWith(`${name}=`));
      assert.match(cookie ?? '', /; secure/, `${name} is Secure over HTTPS`);
    }
    assert.match(String(login.headers['strict-transport-security']), /max-age=31536000/);
  });
});
