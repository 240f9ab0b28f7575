import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { loadConfig } from '../archive/config.ts';

/**
 * docker-compose.yml without a container engine (there is none where the tests run, nor the compose
 * plugin): the YAML is parsed (anchors and merge keys resolved as compose does) and checked for what
 * `docker compose up --scale gateway=2 --scale worker=4` needs — no fixed host port or container name
 * on a scaled service, a health check on /readyz for gateways and workers on the port their own
 * configuration listens on, the balancer's HAProxy configuration pointing at the gateways' ports,
 * commands that exist — and every Yingyun service's environment passes the archive's own
 * configuration check. Not covered: that the images pull and start (no engine here).
 */

const projectRoot = path.resolve(import.meta.dirname, '..');

interface Service {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  expose?: string[];
  container_name?: string;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  configs?: { source: string; target: string }[];
}

const compose = parse(fs.readFileSync(path.join(projectRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  configs: Record<string, { content: string }>;
};
const { services } = compose;

/** The port a health check's `fetch('http://127.0.0.1:PORT/readyz')` asks. */
function readinessPort(service: Service): number {
  const script = service.healthcheck?.test.join(' ') ?? '';
  const found = /http:\/\/127\.0\.0\.1:(\d+)\/readyz/.exec(script);
  assert.ok(found, `a /readyz health check: ${script}`);
  return Number(found[1]);
}

describe('docker-compose.yml', () => {
  it('has the scaled stack: gateways, workers, PostgreSQL, Redis, MinIO and a balancer', () => {
    assert.deepEqual(Object.keys(services).sort(), ['balancer', 'gateway', 'minio', 'postgres', 'redis', 'worker']);
    for (const [name, service] of Object.entries(services)) {
      for (const dependency of Object.keys(service.depends_on ?? {})) assert.ok(services[dependency], `${name} depends on ${dependency}, which exists`);
    }
  });

  it('can scale gateways and workers: no fixed host port or container name on them', () => {
    for (const name of ['gateway', 'worker']) {
      const service = services[name]!;
      assert.equal(service.ports, undefined, `${name} publishes no host port (replicas would collide)`);
      assert.equal(service.container_name, undefined, `${name} has no fixed container name`);
    }
    assert.deepEqual(services.balancer!.ports, ['8080:8080', '11112:11112'], 'one address for DICOM and HTTP, in front of every gateway');
  });

  it('gives gateways and workers a configuration the archive accepts and a readiness check on their own port', () => {
    const gateway = loadConfig(services.gateway!.environment);
    assert.ok(gateway.redisUrl && gateway.databaseUrl && gateway.s3, 'a gateway of the scaled stack uses Redis, PostgreSQL and S3');
    assert.equal(readinessPort(services.gateway!), gateway.http.port);
    assert.equal(gateway.http.host, '0.0.0.0', 'reachable from the balancer');

    const worker = loadConfig(services.worker!.environment);
    assert.ok(worker.redisUrl && worker.databaseUrl && worker.s3);
    assert.equal(worker.workerHttpPort, 8081);
    assert.equal(readinessPort(services.worker!), worker.workerHttpPort, "the worker's health check asks its own listener");
    assert.ok(services.worker!.expose?.includes(String(worker.workerHttpPort)), 'Prometheus on the compose network reaches the worker');
  });

  it('runs commands that exist, as the Dockerfile does', () => {
    const dockerfile = fs.readFileSync(path.join(projectRoot, 'Dockerfile'), 'utf8');
    const cmd = JSON.parse(/^CMD (.+)$/m.exec(dockerfile)![1]!) as string[];
    assert.deepEqual(services.gateway!.command, cmd);
    for (const name of ['gateway', 'worker']) {
      const command = services[name]!.command!;
      assert.deepEqual(command.slice(0, 3), ['node', '--import', 'tsx'], `${name} runs node directly, so SIGTERM reaches it`);
      assert.ok(fs.existsSync(path.join(projectRoot, command[3]!)), `${command[3]} exists`);
    }
  });

  it("balances DICOM and HTTP over the gateways' own ports, only to ready ones", () => {
    const gateway = loadConfig(services.gateway!.environment);
    const haproxy = services.balancer!.configs?.find((config) => config.target === '/usr/local/etc/haproxy/haproxy.cfg');
    assert.ok(haproxy, 'the balancer mounts its configuration');
    const text = compose.configs[haproxy.source]!.content;
    const binds = [...text.matchAll(/^\s*bind :(\d+)$/gm)].map((match) => Number(match[1])).sort((a, b) => a - b);
    assert.deepEqual(binds, [8080, 11112], 'it listens where it publishes');
    const targets = [...text.matchAll(/server-template gateway \d+ gateway:(\d+) check(?: port (\d+))? resolvers docker/g)].map((match) => ({ port: Number(match[1]), checkPort: Number(match[2] ?? match[1]) }));
    assert.deepEqual(targets, [
      { port: gateway.dicom.port, checkPort: gateway.http.port },
      { port: gateway.http.port, checkPort: gateway.http.port },
    ]);
    assert.equal((text.match(/option httpchk GET \/readyz/g) ?? []).length, 2, 'both backends send only to ready gateways');
  });
});
