/**
 * docs/analytics.md's worked example, run as written: the `npm run events` line
 * that exports a site to Parquet, the two DuckDB queries over that file, and the
 * LogReader snippet that stops and resumes. Blocks are taken from the page by
 * their `<!-- docs-test: name -->` markers, so the page cannot drift from what works.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { type AppendRequest, buildAppend } from '../protocol/event-append.ts';
import { appendToLog } from '../protocol/log-append.ts';
import { createLogs } from './support/event-log.ts';
import { dropNamespace, NATS_URL, uniqueNamespace } from './support/nats.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const PAGE = readFileSync(join(ROOT, 'docs/analytics.md'), 'utf8');
const DOC_FILE = '/tmp/site-7.parquet';

/** The fenced block right after `<!-- docs-test: name -->`. */
function block(name: string): string {
  const m = new RegExp(`<!-- docs-test: ${name} -->\\n\`\`\`\\w+\\n([\\s\\S]*?)\\n\`\`\``).exec(PAGE);
  assert.ok(m, `docs/analytics.md has a block marked docs-test: ${name}`);
  return m[1]!;
}

function run(file: string, args: string[], env: Record<string, string>): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve({ stdout, stderr })));
  });
}

describe('docs/analytics.md worked example', () => {
  const ns = uniqueNamespace('docs');
  let dir: string;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let n = 0;
  const offsets: number[] = [];
  const append = async (request: AppendRequest, derived = false) => {
    const seq = (await appendToLog(js, buildAppend(ns, request), `docs-${n++}`, { derived })).seq;
    if (String(request.siteId ?? (request.data as { siteId?: unknown }).siteId) === '7') offsets.push(seq);
    return seq;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'analytics-docs-'));
    await createLogs(NATS_URL, ns);
    nc = await connect({ servers: NATS_URL });
    js = jetstream(nc);
    await append({ event: 'task:update', siteId: 7, data: { id: 't1', status: 'loading' } });
    await append({ event: 'task:update', siteId: 8, data: { id: 't9', status: 'loading' } });
    await append({ event: 'task:update', siteId: 7, data: { id: 't2', status: 'pending' } });
    await append({ event: 'alarm:new', data: { id: 'a1', siteId: 7, level: 'warning', title: 'Mixer 2 overheating' } });
    await append({ event: 'task:update', siteId: 7, data: { id: 't1', status: 'delivered' } });
    await append({ event: 'dashboard:update', siteId: 7, data: { siteId: '7', tasks: { delivered: 1, pending: 1 } } }, true);
  });
  after(async () => {
    await nc.close();
    await dropNamespace(ns);
    rmSync(dir, { recursive: true, force: true });
  });

  it('exports site 7 to Parquet with the page’s command, and DuckDB answers the page’s queries', async () => {
    const file = join(dir, 'site-7.parquet');
    const command = block('export');
    assert.match(command, /^npm run events -- /);
    await run('sh', ['-c', command.replaceAll(DOC_FILE, file)], { NATS_URL, HUB_NAMESPACE: ns });

    const db = await (await DuckDBInstance.create()).connect();
    const query = async (name: string) => (await db.runAndReadAll(block(name).replaceAll(DOC_FILE, file))).getRowObjectsJson();
    const byEvent = await query('query-events');
    assert.deepEqual(
      byEvent.map((r) => [r.event, Number(r.events), Number(r.derived)]),
      [
        ['task:update', 3, 0],
        ['alarm:new', 1, 0],
        ['dashboard:update', 1, 1],
      ],
    );
    assert.ok(byEvent.every((r) => typeof (r.span as { micros?: unknown }).micros === 'string'), 'ts is a timestamp: max - min is an interval');
    const tasks = await query('query-tasks');
    assert.deepEqual(
      tasks.map((r) => [r.task, r.status, Number(r.last_offset)]),
      [
        ['t1', 'delivered', offsets[3]],
        ['t2', 'pending', offsets[1]],
      ],
    );
  });

  it('the LogReader snippet stops after one record and resumes right after it', async () => {
    // Inside the project (a git-ignored .scratch folder), so `plant-realtime-hub/replay` resolves as it does for a user of the package.
    const scratch = join(ROOT, `.scratch-docs-${ns}`);
    mkdirSync(scratch);
    let stdout: string;
    try {
      writeFileSync(join(scratch, 'reader.ts'), block('reader'));
      ({ stdout } = await run(process.execPath, ['--import', 'tsx', join(scratch, 'reader.ts')], { NATS_URL, HUB_NAMESPACE: ns }));
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
    const printed = stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(printed.map(([offset]) => offset), offsets);
    assert.deepEqual(printed.map(([, event]) => event), ['task:update', 'task:update', 'alarm:new', 'task:update', 'dashboard:update']);
  });
});
