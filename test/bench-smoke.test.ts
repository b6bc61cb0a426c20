/**
 * Every bench scenario, briefly, against the real hub (JetStream in the path):
 * it runs to the end and reports zero loss; fanout and a reconnect storm on the
 * hub's Socket.IO face too. And the command line end to end: `--compare`
 * against all four targets writes results with ratios and goals, and a chart.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseCommand, type ScenarioName, type TargetName } from '../bench/options.ts';
import type { RunResult } from '../bench/run-result.ts';
import { scenarios } from '../bench/scenarios/index.ts';
import { NATS_URL } from './support/nats.ts';

const SMALL = ['--clients', '200', '--sites', '20', '--duration', '1.5', '--warmup', '0.5', '--drain-max-seconds', '10'];

async function runOn(target: TargetName, scenario: ScenarioName, ...extra: string[]): Promise<RunResult> {
  const c = parseCommand([scenario, ...SMALL, ...extra], { NATS_URL });
  assert.equal(c.command, 'run');
  const options = (c as Extract<typeof c, { command: 'run' }>).options;
  return scenarios[scenario]({ options, target, repeat: 1, cpuProfDir: undefined });
}

const runOnHub = (scenario: ScenarioName, ...extra: string[]) => runOn('hub', scenario, ...extra);

function assertAllConnected(r: RunResult): void {
  assert.equal(r.connect.connected, r.clients, `connect errors: ${r.connect.errors.join(' | ')}`);
}

function assertClean(r: RunResult): void {
  const t = r.integrity.total;
  assert.deepEqual({ lost: t.lost, duplicates: t.duplicates, orderViolations: t.orderViolations, offsetViolations: t.offsetViolations }, { lost: 0, duplicates: 0, orderViolations: 0, offsetViolations: 0 }, JSON.stringify(r.integrity.worst));
}

describe('bench smoke runs against the hub', () => {
  it('fanout delivers every event to every subscriber of its site, with latency figures', async () => {
    const r = await runOnHub('fanout', '--rate', '300');
    assertAllConnected(r);
    assertClean(r);
    const measure = r.phases.find((p) => p.label === 'measure')!;
    assert.ok(measure.expected > 0);
    assert.equal(measure.delivered, measure.expected);
    assert.ok((r.headline.deliveredPerSec ?? 0) > 0 && r.headline.p99Ms !== null && r.headline.serverCpuUsPerDelivery !== null);
  });

  it('burst survives a spike without loss', async () => {
    const r = await runOnHub('burst', '--rate', '100', '--burst-factor', '10', '--burst-seconds', '0.5', '--duration', '0.5');
    assertAllConnected(r);
    assertClean(r);
    assert.equal(r.phases.length, 3);
  });

  it('reconnect-storm brings every dropped client back and loses nothing while connected', async () => {
    const r = await runOnHub('reconnect-storm', '--rate', '200');
    assertAllConnected(r);
    const x = r.reconnect!;
    assert.ok(x.drops > 50, `dropped ${x.drops}`);
    assert.equal(x.reconnected, x.drops);
    const t = r.integrity.total;
    assert.deepEqual([t.lost - t.lostAcrossReconnect, t.duplicates, t.orderViolations, t.offsetViolations], [0, 0, 0, 0]);
    // A hub that answers resumes (issue 3) must heal every outage: then nothing at all may be lost.
    // A hub without resume support answers no `recovered`; its outage loss is reported, not failed.
    if (x.recoveredTrue + x.recoveredFalse > 0) assert.equal(t.lost, 0, `resume recovered ${x.recoveredTrue}/${x.reconnected}`);
  });

  it('slow-consumers keeps the fast clients whole and loses no critical event', async () => {
    const r = await runOnHub('slow-consumers', '--rate', '200', '--stall-seconds', '1');
    assertAllConnected(r);
    assertClean(r);
    assert.equal(r.headline.slowLostCritical, 0);
    assert.ok((r.headline.slowClients ?? 0) > 0);
  });

  it('connections reports connections/s and memory per connection, and every connection receives', async () => {
    const r = await runOnHub('connections', '--duration', '0.5');
    assertAllConnected(r);
    assertClean(r);
    assert.ok((r.headline.connectPerSec ?? 0) > 0);
    assert.ok(r.memory.rssPerConnectionBytes !== null);
    assert.ok(r.phases[0]!.expected > 0 && r.phases[0]!.delivered === r.phases[0]!.expected);
  });
});

describe('bench smoke runs against the hub\'s Socket.IO face', () => {
  it('fanout delivers every event to socket.io-client subscribers, read from the producer\'s payload, offsets increasing', async () => {
    const r = await runOn('hub-socketio', 'fanout', '--rate', '300', '--clients', '100', '--sites', '10');
    assertAllConnected(r);
    assertClean(r);
    const measure = r.phases.find((p) => p.label === 'measure')!;
    assert.ok(measure.expected > 0);
    assert.equal(measure.delivered, measure.expected);
    assert.ok(r.headline.p99Ms !== null && r.headline.serverCpuUsPerDelivery !== null);
  });

  it('reconnect-storm: dropped clients come back by connection state recovery and lose nothing', async () => {
    const r = await runOn('hub-socketio', 'reconnect-storm', '--rate', '100', '--clients', '60', '--sites', '6');
    assertAllConnected(r);
    const x = r.reconnect!;
    assert.ok(x.drops > 10, `dropped ${x.drops}`);
    assert.equal(x.reconnected, x.drops);
    assert.equal(x.recoveredTrue, x.drops);
    assertClean(r);
  });

  it('the lean Socket.IO client reads the same events in place and recovers the same way', async () => {
    const r = await runOn('hub-socketio', 'reconnect-storm', '--rate', '100', '--clients', '60', '--sites', '6', '--socketio-client', 'lean');
    assertAllConnected(r);
    const x = r.reconnect!;
    assert.ok(x.drops > 10, `dropped ${x.drops}`);
    assert.equal(x.recoveredTrue, x.drops);
    assertClean(r);
    assert.ok(r.integrity.total.received > 0 && r.integrity.otherFrames === 0);
  });
});

describe('bench command line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-cli-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('compares all four targets, writes the JSON with ratios and goals, and charts it', () => {
    const json = join(dir, 'r.json');
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'bench/main.ts', 'fanout', '--compare', '--clients', '100', '--sites', '10', '--rate', '200', '--duration', '1', '--warmup', '0', '--workers', '1', '--out', json, '-q'], { encoding: 'utf8', env: { ...process.env, NATS_URL }, timeout: 90_000 });
    assert.equal(run.status, 0, run.stderr + run.stdout);
    assert.match(run.stdout, /hub\/socketio/);
    assert.match(run.stdout, /hub-socketio\/hub/);
    assert.match(run.stdout, /issue 9 goals[^]*CPU per delivery ≤ 1.5× the native hub protocol: [\d.]+×/);
    const results = JSON.parse(readFileSync(json, 'utf8'));
    assert.deepEqual(results.runs.map((r: RunResult) => r.target), ['hub', 'hub-socketio', 'socketio', 'uws-bare']);
    for (const r of results.runs as RunResult[]) assert.equal(r.integrity.total.lost, 0, r.target);
    assert.ok(typeof results.summary.ratios['hub/socketio'].deliveredPerSec === 'number');
    assert.ok(typeof results.summary.ratios['hub/uws-bare'].serverCpuUsPerDelivery === 'number');
    assert.ok(typeof results.summary.ratios['hub-socketio/socketio'].deliveredPerSec === 'number');
    assert.equal(results.summary.goals.length, 4);
    const chart = spawnSync(process.execPath, ['--import', 'tsx', 'bench/main.ts', 'chart', json, '--out', join(dir, 'r.svg')], { encoding: 'utf8' });
    assert.equal(chart.status, 0, chart.stderr);
    assert.match(readFileSync(join(dir, 'r.svg'), 'utf8'), /^<svg [^]*<polyline|^<svg [^]*<circle/);
  });

  it('fails with a clear message and exit code 2 on a bad option', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'bench/main.ts', 'fanout', '--clients', 'lots'], { encoding: 'utf8' });
    assert.equal(run.status, 2);
    assert.match(run.stderr, /--clients "lots" must be an integer/);
  });
});
