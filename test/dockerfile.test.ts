import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../archive/config.ts';
import { createTestDatabase } from './support/database.ts';

/**
 * The Dockerfile, built without a container engine (there is none where the tests run): its
 * instructions are read from the file and carried out in order on the build context `docker build`
 * would send (the files git tracks, less .dockerignore), each stage in a folder of its own that stands
 * for the stage's root, so `WORKDIR /app` is `<stage folder>/app`. Then its CMD is started against a
 * fresh test database and must become ready. An instruction this file does not know fails the test,
 * so the image cannot change without this test following it.
 *
 * Not covered: what the base image itself brings (its Debian, its npm, which may differ from the one
 * here); its Node major version is checked against this one.
 */

const projectRoot = path.resolve(import.meta.dirname, '..');
const STEP_TIMEOUT_MS = 5 * 60_000;

interface Instruction {
  keyword: string;
  argument: string;
  line: number;
}

/** The Dockerfile's instructions: comments dropped, lines continued with a backslash joined. */
function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let pending = '';
  let startLine = 0;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trimEnd();
    if (pending === '' && (line.trim() === '' || line.trimStart().startsWith('#'))) return;
    if (pending === '') startLine = index + 1;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      return;
    }
    const whole = (pending + line).trim();
    pending = '';
    const [, keyword, argument] = /^(\S+)\s*(.*)$/.exec(whole)!;
    instructions.push({ keyword: keyword!.toUpperCase(), argument: argument!, line: startLine });
  });
  return instructions;
}

/** The context paths .dockerignore keeps (Docker's rules: a path goes when it or a parent folder matches; `!` brings it back; the last match wins). */
function dockerignoreFilter(text: string): (relativePath: string) => boolean {
  const rules = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const keep = line.startsWith('!');
      const pattern = path.posix.normalize((keep ? line.slice(1) : line).replace(/^\/+/, ''));
      const source = pattern
        .split(/(\*\*\/?|\*|\?)/)
        .map((part) => (part.startsWith('**') ? '(?:.*/)?' : part === '*' ? '[^/]*' : part === '?' ? '[^/]' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
        .join('');
      return { keep, pattern: new RegExp(`^${source}$`) };
    });
  return (relativePath) => {
    const parts = relativePath.split('/');
    const prefixes = parts.map((_, index) => parts.slice(0, index + 1).join('/'));
    let kept = true;
    for (const rule of rules) if (prefixes.some((prefix) => rule.pattern.test(prefix))) kept = rule.keep;
    return kept;
  };
}

/** What `docker build .` would send: the tracked files as they are in the working tree, less .dockerignore. */
async function buildContext(): Promise<string[]> {
  const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: projectRoot, encoding: 'utf8' }).split('\0').filter(Boolean);
  const kept = dockerignoreFilter(await fs.readFile(path.join(projectRoot, '.dockerignore'), 'utf8').catch(() => ''));
  const present = await Promise.all(tracked.map((file) => fs.lstat(path.join(projectRoot, file)).then(() => true, () => false)));
  return tracked.filter((file, index) => present[index] && kept(file));
}

interface Stage {
  name?: string;
  root: string;
  workdir: string;
  env: Record<string, string>;
  exposed: number[];
  cmd?: string[];
}

/** Where a path inside a stage's file system is in its folder here. */
function hostPath(stage: Stage, containerPath: string): string {
  return path.join(stage.root, path.posix.resolve(stage.workdir, containerPath));
}

/** A clean environment like a build step's: PATH and HOME (for npm's cache), this Node first, then the stage's ENV. */
function stepEnvironment(stage: Stage): Record<string, string> {
  return {
    PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    HOME: process.env.HOME ?? os.homedir(),
    ...stage.env,
  };
}

function run(command: string, args: string[], options: { cwd: string; env: Record<string, string> }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), STEP_TIMEOUT_MS);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${[command, ...args].join(' ')} exited ${code}:\n${output.slice(-4000)}`));
    });
  });
}

/** JSON exec form (`["node", …]`), or undefined for the shell form. */
function execForm(argument: string): string[] | undefined {
  if (!argument.startsWith('[')) return undefined;
  const parsed = JSON.parse(argument) as unknown;
  assert.ok(Array.isArray(parsed) && parsed.every((part) => typeof part === 'string'), `exec form of strings: ${argument}`);
  return parsed as string[];
}

/** Carries out every instruction; returns the stages, the last one being the image. */
async function build(instructions: Instruction[], context: string[], workRoot: string): Promise<Stage[]> {
  const stages: Stage[] = [];
  for (const { keyword, argument, line } of instructions) {
    const where = `Dockerfile line ${line}: ${keyword} ${argument}`;
    if (keyword === 'FROM') {
      const [image, as, name] = argument.split(/\s+/);
      const major = /^node:(\d+)(?:-|$)/.exec(image!)?.[1];
      assert.equal(major, process.versions.node.split('.')[0], `${where}: the base image's Node major version is this one's`);
      if (as !== undefined) assert.equal(as.toUpperCase(), 'AS', where);
      const root = path.join(workRoot, `stage-${stages.length}`);
      await fs.mkdir(root);
      stages.push({ name, root, workdir: '/', env: {}, exposed: [] });
      continue;
    }
    const stage = stages.at(-1);
    assert.ok(stage, `${where}: before any FROM`);
    switch (keyword) {
      case 'WORKDIR':
        stage.workdir = path.posix.resolve(stage.workdir, argument);
        await fs.mkdir(hostPath(stage, '.'), { recursive: true });
        break;
      case 'ENV':
        for (const pair of argument.split(/\s+/)) {
          const [, key, value] = /^([A-Za-z_][A-Za-z0-9_]*)=([^"'$\s]*)$/.exec(pair) ?? [];
          assert.ok(key !== undefined && value !== undefined, `${where}: only KEY=value pairs without quotes or variables are carried out here`);
          stage.env[key] = value;
        }
        break;
      case 'COPY': {
        const words = argument.split(/\s+/);
        const from = words[0]!.startsWith('--from=') ? words.shift()!.slice('--from='.length) : undefined;
        assert.ok(!words[0]!.startsWith('--'), `${where}: COPY flags other than --from are not carried out here`);
        const destination = words.pop()!;
        assert.ok(words.length > 0, `${where}: a source and a destination`);
        const into = destination.endsWith('/') || words.length > 1;
        for (const source of words) {
          if (from !== undefined) {
            const origin = stages.find((candidate) => candidate.name === from);
            assert.ok(origin, `${where}: no stage named ${from}`);
            const sourcePath = path.join(origin.root, path.posix.resolve('/', source));
            const target = into ? path.join(hostPath(stage, destination), path.basename(source)) : hostPath(stage, destination);
            await fs.cp(sourcePath, target, { recursive: true });
            continue;
          }
          const normalised = path.posix.normalize(source).replace(/^(\.\/?)$/, '');
          const files = context.filter((file) => normalised === '' || file === normalised || file.startsWith(`${normalised}/`));
          assert.ok(files.length > 0, `${where}: ${source} is not in the build context`);
          for (const file of files) {
            const relative = file === normalised ? path.posix.basename(file) : path.posix.relative(normalised, file);
            const target = file === normalised && !into ? hostPath(stage, destination) : path.join(hostPath(stage, destination), relative);
            await fs.mkdir(path.dirname(target), { recursive: true });
            await fs.cp(path.join(projectRoot, file), target, { verbatimSymlinks: true });
          }
        }
        break;
      }
      case 'RUN': {
        const exec = execForm(argument);
        const [command, ...args] = exec ?? ['sh', '-c', argument];
        await run(command!, args, { cwd: hostPath(stage, '.'), env: stepEnvironment(stage) });
        break;
      }
      case 'EXPOSE':
        stage.exposed.push(...argument.split(/\s+/).map((port) => Number(port.replace(/\/tcp$/, ''))));
        break;
      case 'CMD': {
        const exec = execForm(argument);
        // The shell form would put sh in front of Node, and the container's SIGTERM would not reach the drain.
        assert.ok(exec, `${where}: CMD in exec form, so that SIGTERM reaches Node`);
        stage.cmd = exec;
        break;
      }
      default:
        assert.fail(`${where}: this test does not carry out ${keyword}; teach it to, so the image stays tested`);
    }
  }
  return stages;
}

describe('Dockerfile', () => {
  it('parses .dockerignore as Docker does', () => {
    const kept = dockerignoreFilter('# comment\nnode_modules\nbench/corpus\n*.log\ndocs/**/*.png\n!docs/keep.png\n');
    assert.equal(kept('node_modules/pg/index.js'), false);
    assert.equal(kept('viewer/node_modules/x.js'), true, 'a pattern without a folder matches at the root only');
    assert.equal(kept('bench/corpus/a/b.dcm'), false);
    assert.equal(kept('bench/ingest.ts'), true);
    assert.equal(kept('npm-debug.log'), false);
    assert.equal(kept('docs/images/a.png'), false);
    assert.equal(kept('docs/keep.png'), true);
  });

  it('builds as its instructions say, and its CMD starts a gateway that becomes ready on an external database', { timeout: 10 * 60_000 }, async () => {
    const instructions = parseDockerfile(await fs.readFile(path.join(projectRoot, 'Dockerfile'), 'utf8'));
    const context = await buildContext();
    assert.ok(context.includes('package-lock.json') && context.includes('gateway/main.ts'), 'the build context holds the sources');
    assert.ok(!context.some((file) => file.startsWith('node_modules/')), 'no node_modules in the build context');
    const workRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-dockerfile-'));
    const database = await createTestDatabase();
    try {
      const stages = await build(instructions, context, workRoot);
      const image = stages.at(-1)!;
      assert.ok(image.cmd, 'the image has a CMD');
      const defaults = loadConfig({});
      assert.deepEqual([...image.exposed].sort((a, b) => a - b), [defaults.http.port, defaults.dicom.port].sort((a, b) => a - b), 'EXPOSE names the ports the gateway listens on by default');
      const app = hostPath(image, '.');
      await fs.access(path.join(app, 'viewer', 'dist', 'index.html'));
      // The runtime stage has production dependencies only, so the gateway must not need a development one.
      await assert.rejects(fs.access(path.join(app, 'node_modules', 'vite')), 'no development dependency in the image');

      const dataDir = await fs.mkdtemp(path.join(workRoot, 'data-'));
      const [command, ...args] = image.cmd;
      const child = spawn(command === 'node' ? process.execPath : command!, args, {
        cwd: app,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...stepEnvironment(image),
          // As `docker run -e …` would set them: the test database, a data folder, any free port on loopback.
          DATABASE_URL: database.url,
          YINGYUN_DATA_DIR: dataDir,
          YINGYUN_HTTP_HOST: '127.0.0.1',
          YINGYUN_HTTP_PORT: '0',
          YINGYUN_DICOM_HOST: '127.0.0.1',
          YINGYUN_DICOM_PORT: '0',
          YINGYUN_LOG_LEVEL: 'warn',
        },
      });
      let output = '';
      child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const closed = new Promise<number | null>((resolve) => child.once('close', resolve));
      try {
        const deadline = Date.now() + 60_000;
        let httpUrl: string | undefined;
        while (!httpUrl) {
          httpUrl = /Yingyun ready: web (http:\/\/\S+?)\/ /.exec(output)?.[1];
          if (child.exitCode !== null) assert.fail(`the CMD exited ${child.exitCode}:\n${output}`);
          if (Date.now() > deadline) assert.fail(`the CMD not ready after 60 s:\n${output}`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        assert.doesNotMatch(output, /embedded PostgreSQL/, 'with DATABASE_URL no embedded PostgreSQL is started');
        const health = await fetch(`${httpUrl}/healthz`);
        assert.equal(health.status, 200);
        assert.deepEqual(await health.json(), { status: 'ok' });
        const viewer = await fetch(`${httpUrl}/`);
        assert.equal(viewer.status, 200, 'the viewer built in the first stage is served');
        assert.match(viewer.headers.get('content-type') ?? '', /text\/html/);
      } finally {
        child.kill('SIGTERM');
      }
      assert.equal(await closed, 0, `a clean stop on SIGTERM:\n${output}`);
    } finally {
      await database.drop();
      await fs.rm(workRoot, { recursive: true, force: true });
    }
  });
});
