/**
 * Every command a newcomer types, as a process: `--help` prints the usage and
 * exits 0; a bad option or value says why in one line, then the synopsis, and
 * exits 2; a server that is not there, a database another process holds or an
 * empty range is one line saying what to do, never a stack trace.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { loadConfig } from '../hub/config.ts';
import { startServer } from '../hub/server.ts';
import { ensureStreams } from '../hub/streams.ts';
import { HubPublisher } from '../protocol/publisher.ts';
import { dropNamespace, freePort, NATS_URL, uniqueNamespace } from './support/nats.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const SECRET = 'cli-test-secret-of-at-least-32-characters';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment of a fresh machine (nothing of the hub's set), plus `extra`. */
function freshEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(HUB_|NATS_URL$|DATABASE_URL$|PROJECTIONS_|DEMO_|NODE_TEST|npm_)/.test(k)) env[k] = v;
  return { ...env, ...extra };
}

/** Runs a CLI as `npm run` does (tsx), from the project's folder, with its data under `dataDir`. */
function cli(file: string, args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], { cwd: ROOT, env: freshEnv({ HUB_DATA_DIR: dataDir, HUB_LOG_LEVEL: 'silent', ...env }), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function assertNoStack(r: Run): void {
  assert.doesNotMatch(r.stderr, /^\s+at /m, `no stack trace in:\n${r.stderr}`);
}

/** `--help`: the usage on stdout, nothing on stderr, exit 0. */
async function assertHelp(file: string, synopsis: RegExp): Promise<void> {
  for (const flag of ['--help', '-h']) {
    const r = await cli(file, [flag]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, synopsis);
    assert.equal(r.stderr, '');
  }
}

/** A usage error: `<command>: <reason>` first, the synopsis, exit 2, nothing on stdout. */
function assertUsageError(r: Run, command: string, reason: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  const [first, synopsis] = r.stderr.split('\n');
  assert.ok(first!.startsWith(`${command}: `), first);
  assert.match(first!, reason);
  assert.match(synopsis!, /^usage: /);
  assert.equal(r.stdout, '');
  assertNoStack(r);
}

/** A user error the command explains: one line on stderr, exit `code`. */
function assertOneLine(r: Run, code: number, ...says: RegExp[]): void {
  assert.equal(r.code, code, r.stderr);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line:\n${r.stderr}`);
  for (const re of says) assert.match(r.stderr, re);
  assertNoStack(r);
}

/** A namespace's logs, as a hub creates them when it starts. */
async function createStreams(ns: string): Promise<void> {
  const nc = await connect({ servers: NATS_URL });
  try {
    await ensureStreams(nc, await jetstreamManager(nc), loadConfig({ HUB_NAMESPACE: ns, HUB_JWT_SECRET: SECRET, NATS_URL }));
  } finally {
    await nc.close();
  }
}

/** Makes the embedded database under `dir` look open in a live process (this one), as a running hub leaves it. */
function holdEmbeddedDatabase(dir: string): void {
  mkdirSync(join(dir, 'pglite'), { recursive: true });
  writeFileSync(join(dir, 'pglite', 'hub-process.pid'), String(process.pid));
}

// Two commands at a time: each start is mostly tsx compiling, and this machine has two cores.
let dataDir: string;
let unreachable: string;


/** Every npm script that runs one of the project's files: `[script, file]`, from package.json. */
function scriptFiles(): Array<[string, string]> {
  const scripts = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>;
  const out: Array<[string, string]> = [];
  for (const [name, command] of Object.entries(scripts)) {
    const file = /^(?:exec )?(?:tsx|node --import tsx) ([\w/.-]+\.ts)$/.exec(command)?.[1];
    if (file !== undefined) out.push([name, file]);
  }
  return out;
}

describe('the command-line tools', { concurrency: 2 }, () => {
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'hub-cli-'));
    unreachable = `nats://127.0.0.1:${await freePort()}`;
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  describe('npm run token', () => {
    it('prints its usage for --help and -h', () => assertHelp('hub/token-cli.ts', /^usage: npm run token -- .*--sub/));

    it('rejects an unknown option, a missing value or a bad --ttl with the reason and the usage, exit 2', async () => {
      assertUsageError(await cli('hub/token-cli.ts', ['--bogus']), 'npm run token', /Unknown option '--bogus'/);
      assertUsageError(await cli('hub/token-cli.ts', ['--sub']), 'npm run token', /--sub/);
      assertUsageError(await cli('hub/token-cli.ts', ['--ttl', '0']), 'npm run token', /--ttl "0" must be a positive/);
      assertUsageError(await cli('hub/token-cli.ts', ['alice']), 'npm run token', /unexpected argument "alice"/);
    });

    it('still mints a token', async () => {
      const r = await cli('hub/token-cli.ts', ['--sub', 'alice', '--sites', '1,2'], { HUB_JWT_SECRET: SECRET });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout.trim(), /^[\w-]+\.[\w-]+\.[\w-]+$/);
    });
  });

  describe('npm run events', () => {
    const ns = uniqueNamespace('cli');
    let offset: number;

    before(async () => {
      await createStreams(ns);
      const pub = await HubPublisher.connect({ servers: NATS_URL, namespace: ns });
      offset = await pub.sendTaskUpdate(1, { id: 'only-task', status: 'loading' });
      await pub.close();
    });
    after(() => dropNamespace(ns));

    it('prints its usage for --help and -h', () => assertHelp('hub/export-cli.ts', /^usage: npm run events -- \[--stream site\|user\|global\].*--format ndjson\|csv\|parquet.*--follow.*--out <file>/));

    it('rejects a bad stream, event, format, bound or an unknown option with the reason and the usage, exit 2', async () => {
      assertUsageError(await cli('hub/export-cli.ts', ['--stream', 'sites']), 'npm run events', /--stream must be one of site, user, global/);
      assertUsageError(await cli('hub/export-cli.ts', ['--events', 'alarm:neu']), 'npm run events', /"alarm:neu" is not in the site stream/);
      assertUsageError(await cli('hub/export-cli.ts', ['--format', 'xlsx']), 'npm run events', /--format must be one of ndjson, csv, parquet/);
      assertUsageError(await cli('hub/export-cli.ts', ['--stream', 'global', '--sites', '1']), 'npm run events', /--sites applies to --stream site/);
      assertUsageError(await cli('hub/export-cli.ts', ['--site', '1', '--from', 'yesterday']), 'npm run events', /--from must be an offset .* not "yesterday"/);
      assertUsageError(await cli('hub/export-cli.ts', ['--site', '1', '--form', '3']), 'npm run events', /Unknown option '--form'/);
    });

    it('names the NATS URL it cannot reach and what to check, exit 1', async () => {
      const r = await cli('hub/export-cli.ts', ['--site', '1'], { NATS_URL: unreachable });
      assertOneLine(r, 1, new RegExp(`cannot reach NATS at ${unreachable}`), /npm start/, /NATS_URL/);
    });

    it('names the hub URL it cannot reach with --url, exit 1', async () => {
      const url = unreachable.replace('nats:', 'http:');
      assertOneLine(await cli('hub/export-cli.ts', ['--site', '1', '--url', url]), 1, new RegExp(`cannot reach the hub at ${url}`));
    });

    it('writes the events of a site as NDJSON', async () => {
      const r = await cli('hub/export-cli.ts', ['--site', '1'], { NATS_URL, HUB_NAMESPACE: ns });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(
        r.stdout.trim().split('\n').map((l) => JSON.parse(l)).map((e) => [e.offset, e.event, e.data]),
        [[offset, 'task:update', { id: 'only-task', status: 'loading' }]],
      );
      assert.equal(r.stderr, '');
    });

    it('writes CSV to stdout and Parquet to a file, filtered by event', async () => {
      const csv = await cli('hub/export-cli.ts', ['--sites', '1', '--events', 'task:update', '--format', 'csv'], { NATS_URL, HUB_NAMESPACE: ns });
      assert.equal(csv.code, 0, csv.stderr);
      const [header, row] = csv.stdout.split('\r\n');
      assert.equal(header, 'offset,epoch,ts,stream,site,user,event,data,derived');
      assert.match(row!, new RegExp(`^${offset},\\w+,\\d+,site,1,,task:update,"{""id"":""only-task"",""status"":""loading""}",false$`));
      const file = join(dataDir, 'events.parquet');
      const parquet = await cli('hub/export-cli.ts', ['--format', 'parquet', '--out', file], { NATS_URL, HUB_NAMESPACE: ns });
      assert.equal(parquet.code, 0, parquet.stderr);
      assert.equal(parquet.stdout, '');
      const bytes = readFileSync(file);
      assert.equal(bytes.subarray(0, 4).toString(), 'PAR1');
      assert.equal(bytes.subarray(-4).toString(), 'PAR1');
      const none = await cli('hub/export-cli.ts', ['--events', 'alarm:new'], { NATS_URL, HUB_NAMESPACE: ns });
      assertOneLine(none, 0, /no events of the site stream \(alarm:new\)/);
    });

    it('says on stderr that a range is empty, and writes nothing to stdout', async () => {
      const r = await cli('hub/export-cli.ts', ['--site', '2'], { NATS_URL, HUB_NAMESPACE: ns });
      assert.equal(r.stdout, '');
      assertOneLine(r, 0, /no events of site 2/);
      const later = await cli('hub/export-cli.ts', ['--site', '1', '--from', String(offset + 1)], { NATS_URL, HUB_NAMESPACE: ns });
      assert.equal(later.stdout, '');
      assertOneLine(later, 0, new RegExp(`no events of site 1 from ${offset + 1} to the end`));
    });
  });

  describe('npm run projections', () => {
    it('prints its usage for --help and -h', () => assertHelp('projections/main.ts', /^usage: npm run projections .*status/));

    it('rejects an unknown option or command and a rebuild without a known projection, exit 2', async () => {
      assertUsageError(await cli('projections/main.ts', ['--bogus']), 'npm run projections', /Unknown option '--bogus'/);
      assertUsageError(await cli('projections/main.ts', ['stats']), 'npm run projections', /unknown command "stats"/);
      assertUsageError(await cli('projections/main.ts', ['rebuild']), 'npm run projections', /rebuild needs a projection name/);
      assertUsageError(await cli('projections/main.ts', ['rebuild', 'nope']), 'npm run projections', /no projection named "nope"/);
    });

    it('status names the NATS URL it cannot reach, exit 1', async () => {
      assertOneLine(await cli('projections/main.ts', ['status'], { NATS_URL: unreachable }), 1, new RegExp(`cannot reach NATS at ${unreachable}`), /npm start/);
    });

    it('status while a hub holds the embedded database reads it through that hub', { timeout: 120_000 }, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hub-cli-hub-'));
      const ns = uniqueNamespace('clistatus');
      const env = { NATS_URL, HUB_NAMESPACE: ns, HUB_DATA_DIR: dir };
      const server = await startServer({ env: { ...env, HUB_PORT: '0', HUB_JWT_SECRET: SECRET, HUB_LOG_LEVEL: 'silent' } });
      try {
        await (await server.projections)!.ready;
        const pub = await HubPublisher.connect({ servers: NATS_URL, namespace: ns });
        const offset = await pub.sendTaskUpdate(1, { id: 'status-task', status: 'loading' });
        await pub.close();
        await (await server.projections)!.worker('dashboard')!.waitFor(offset);
        const r = await cli('projections/main.ts', ['status'], env);
        assert.equal(r.code, 0, r.stderr);
        // The dashboard also folds the dashboard:update the hub appends after that event.
        const folded = /^dashboard: folded up to offset (\d+) \(stream at (\d+)\)/m.exec(r.stdout);
        assert.ok(folded !== null && Number(folded[1]) >= offset && folded[1] === folded[2], r.stdout);
        assert.match(r.stdout, /^inventory: folded up to offset \d+/m);
      } finally {
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
        await dropNamespace(ns);
      }
    });

    it('status while a process that does not answer holds the embedded database says which and what to do, exit 1', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hub-cli-held-'));
      try {
        holdEmbeddedDatabase(dir);
        const r = await cli('projections/main.ts', ['status'], { NATS_URL, HUB_NAMESPACE: uniqueNamespace('clistatus'), HUB_DATA_DIR: dir });
        assertOneLine(r, 1, new RegExp(`process ${process.pid} holds the embedded database .* did not answer`), /stop that process/, /DATABASE_URL/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('npm run demo and npm start', () => {
    it('print their usage for --help and -h', async () => {
      await assertHelp('hub/demo/main.ts', /^usage: npm run demo\n/);
      await assertHelp('hub/main.ts', /^usage: npm start\n/);
    });

    it('reject options and bad DEMO_ values with the reason and the usage, exit 2', async () => {
      assertUsageError(await cli('hub/demo/main.ts', ['--sites', '3']), 'npm run demo', /Unknown option '--sites'/);
      assertUsageError(await cli('hub/demo/main.ts', [], { DEMO_SITES: '0' }), 'npm run demo', /DEMO_SITES="0" must be an integer from 1 to 100/);
      assertUsageError(await cli('hub/main.ts', ['--port', '3000']), 'npm start', /Unknown option '--port'/);
    });

    it('the demo beside a running hub says to stop it or to give the demo its own data and ports, exit 2', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hub-cli-demo-'));
      const ns = uniqueNamespace('clidemo');
      try {
        holdEmbeddedDatabase(dir);
        const r = await cli('hub/demo/main.ts', [], { NATS_URL, HUB_NAMESPACE: ns, HUB_DATA_DIR: dir, HUB_PORT: '0', HUB_JWT_SECRET: SECRET });
        assertOneLine(r, 2, new RegExp(`process ${process.pid} .*holds the embedded database`), /stop it first/, /HUB_DATA_DIR=\S+ HUB_PORT=\S+ HUB_EMBEDDED_NATS_PORT=\S+ npm run demo/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
        await dropNamespace(ns);
      }
    });

    it('a second npm start on the same data says which process holds the database, exit 2', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hub-cli-start-'));
      const ns = uniqueNamespace('clistart');
      try {
        holdEmbeddedDatabase(dir);
        const r = await cli('hub/main.ts', [], { NATS_URL, HUB_NAMESPACE: ns, HUB_DATA_DIR: dir, HUB_PORT: '0', HUB_JWT_SECRET: SECRET });
        assertOneLine(r, 2, new RegExp(`process ${process.pid} .*holds the embedded database`), /HUB_DATA_DIR/, /DATABASE_URL/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
        await dropNamespace(ns);
      }
    });
  });

  describe('npm run bench', () => {
    it('prints its usage for --help, and rejects an unknown option with exit 2', async () => {
      const help = await cli('bench/main.ts', ['--help']);
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, /^npm run bench -- <scenario> \[options\]/);
      const bad = await cli('bench/main.ts', ['fanout', '--bogus']);
      assert.equal(bad.code, 2, bad.stderr);
      assert.match(bad.stderr, /--bogus/);
      assertNoStack(bad);
    });
  });
});

describe('every npm script of the project', () => {
  it('answers --help with its usage and exit 0, and an unknown option with one line, the usage and exit 2', async () => {
    const scripts = scriptFiles();
    assert.ok(scripts.length >= 9, `found ${scripts.map(([n]) => n).join(', ')}`);
    dataDir = mkdtempSync(join(tmpdir(), 'hub-cli-scripts-'));
    try {
      // Two at a time: each is mostly tsx compiling, on a two-core machine.
      for (let i = 0; i < scripts.length; i += 2) {
        await Promise.all(
          scripts.slice(i, i + 2).map(async ([name, file]) => {
            const help = await cli(file, ['--help']);
            assert.equal(help.code, 0, `npm run ${name} -- --help: ${help.stderr}`);
            assert.match(help.stdout, /usage|npm run/i, `npm run ${name} -- --help prints its usage`);
            const bad = await cli(file, ['--no-such-option']);
            assert.equal(bad.code, 2, `npm run ${name} -- --no-such-option: exit ${bad.code}\n${bad.stderr}`);
            assert.match(bad.stderr, /no-such-option/, `npm run ${name} names the bad option`);
            assertNoStack(bad);
          }),
        );
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
