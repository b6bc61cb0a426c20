/**
 * `npm run events`: a log's events for analytics, as NDJSON, CSV or Parquet, to
 * stdout or a file. Reads the log on NATS directly through LogReader (NATS_URL,
 * HUB_NAMESPACE), or asks a hub's `GET /api/events/:stream` with `--url` (then a
 * token decides what is visible). Output is written no faster than it is taken.
 * An empty selection is said on stderr, so a pipe still gets nothing but events.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { CommandLine, connectForCommand, runCommand } from '../protocol/cli/index.ts';
import { type LogBound, LogReader, LogSelectionError, parseBound, streamEvents } from '../protocol/replay.ts';
import { idToken, isValidNamespace, STREAM_KEYS, type StreamKey, userToken } from '../protocol/subjects.ts';
import { EXPORT_FORMATS, type ExportFormat, recordEncoder } from './record-encoder.ts';

const cli = new CommandLine({
  name: 'npm run events',
  usage: 'usage: npm run events -- [--stream site|user|global] [--sites 1,2] [--users a,b] [--events a,b] [--from <offset|time>] [--to <offset|time>] [--limit n] [--format ndjson|csv|parquet] [--follow] [--out <file>] [--url http://hub:3000 --token <jwt>]',
  details: `Writes a log's events, oldest first, one record each:
  {offset, epoch, ts, stream, site|user, event, data, derived}
(ts in milliseconds since the Unix epoch; derived is true for events the hub's
projections produced, such as dashboard snapshots and low-stock alarms).
Reads the event log on NATS (NATS_URL, default the hub's embedded server at
nats://127.0.0.1:4223; HUB_NAMESPACE, default plant), or asks a hub with --url.

  --stream <name>        site (default), user or global
  --sites <ids>          site stream: only these sites, comma-separated (default all)
  --site <id>            the same for one site
  --users <ids>          user stream: only these users' notifications (default all)
  --events <names>       only these events, comma-separated; the site stream holds
                         ${streamEvents('site').join(', ')};
                         user: notification:new; global: notification:new, system:message
  --from <offset|time>   first offset, or ISO 8601 time, included (default the start)
  --to <offset|time>     last offset, or ISO 8601 time, included (default the end now)
  --limit <n>            at most n records
  --format <format>      ndjson (default), csv (RFC 4180, data as JSON text) or
                         parquet (typed columns; ts a UTC timestamp)
  --follow               after the backlog, keep writing new events until Ctrl-C (ndjson)
  --out <file>           write to this file instead of stdout
  --url <http url>       ask this hub's /api/events/:stream instead of NATS
  --token <jwt>          the bearer token for --url (default HUB_TOKEN): a user's token
                         sees its own sites and notifications; an analyst's or the
                         service token sees everything
  -h, --help             this text

Examples:
  npm run events -- --sites 7 --events alarm:new --from 2024-05-01T00:00:00Z
  npm run events -- --format parquet --out site.parquet
  npm run events -- --stream user --users 42 --follow`,
  options: {
    stream: { type: 'string' },
    sites: { type: 'string' },
    site: { type: 'string' },
    users: { type: 'string' },
    events: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    limit: { type: 'string' },
    format: { type: 'string' },
    follow: { type: 'boolean' },
    out: { type: 'string' },
    url: { type: 'string' },
    token: { type: 'string' },
  },
});
const { values } = cli.parse();

const stream = (values.stream ?? 'site') as StreamKey;
if (!STREAM_KEYS.includes(stream)) cli.fail(`--stream must be one of ${STREAM_KEYS.join(', ')}, not ${JSON.stringify(values.stream)}`);
const format = (values.format ?? 'ndjson') as ExportFormat;
if (!EXPORT_FORMATS.includes(format)) cli.fail(`--format must be one of ${EXPORT_FORMATS.join(', ')}, not ${JSON.stringify(values.format)}`);
if (values.follow === true && format !== 'ndjson') cli.fail(`--follow writes ndjson only (a ${format} file has an end)`);
if (values.site !== undefined && values.sites !== undefined) cli.fail('give --site or --sites, not both');
const sites = list(values.sites ?? values.site, '--sites');
const users = list(values.users, '--users');
const events = list(values.events, '--events');
if (sites !== undefined && stream !== 'site') cli.fail('--sites applies to --stream site');
if (users !== undefined && stream !== 'user') cli.fail('--users applies to --stream user');
for (const s of sites ?? []) if (idToken(s) === undefined) cli.fail(`--sites: ${JSON.stringify(s)} is not a site id`);
for (const u of users ?? []) if (userToken(u) === undefined) cli.fail(`--users: ${JSON.stringify(u)} is not a user id`);
for (const e of events ?? []) if (!(streamEvents(stream) as string[]).includes(e)) cli.fail(`--events: ${JSON.stringify(e)} is not in the ${stream} stream (one of ${streamEvents(stream).join(', ')})`);
let from: LogBound | undefined;
let to: LogBound | undefined;
try {
  from = parseBound(values.from, '--from');
  to = parseBound(values.to, '--to');
} catch (e) {
  if (!(e instanceof LogSelectionError)) throw e;
  cli.fail(e.message);
}
const limit = values.limit === undefined ? undefined : Number(values.limit);
if (limit !== undefined && (!/^\d+$/.test(values.limit!) || !Number.isSafeInteger(limit) || limit < 1)) cli.fail(`--limit must be a positive integer, not ${JSON.stringify(values.limit)}`);
const encoder = recordEncoder(format);
if (!encoder.text && values.out === undefined && process.stdout.isTTY === true) cli.fail(`${format} is binary: give --out <file>, or redirect stdout`);

function list(raw: string | undefined, name: string): string[] | undefined {
  if (raw === undefined) return undefined;
  const items = raw.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) cli.fail(`${name} is a comma-separated list without empty items`);
  return items;
}

/** What was asked for, for the empty-selection message. */
function selection(): string {
  const who = sites !== undefined ? `site${sites.length > 1 ? 's' : ''} ${sites.join(', ')}` : users !== undefined ? `user${users.length > 1 ? 's' : ''} ${users.join(', ')}` : `the ${stream} stream`;
  const what = events === undefined ? '' : ` (${events.join(', ')})`;
  const range = values.from === undefined && values.to === undefined ? '' : ` from ${values.from ?? 'the start'} to ${values.to ?? 'the end'}`;
  return `${who}${what}${range}`;
}

/** Writes and waits while the output is full: a slow disk or pipe slows the read. */
async function write(out: Writable, chunk: string | Uint8Array): Promise<void> {
  if (chunk.length > 0 && !out.write(chunk)) await once(out, 'drain');
}

function output(): Writable {
  if (values.out === undefined) return process.stdout;
  const file = createWriteStream(values.out);
  file.on('error', (e) => {
    process.stderr.write(`npm run events: cannot write ${values.out}: ${e.message}\n`);
    process.exit(1);
  });
  return file;
}

async function finish(out: Writable): Promise<void> {
  if (out === process.stdout) return;
  out.end();
  await once(out, 'finish');
}

async function fromHub(url: string): Promise<number> {
  const query = new URLSearchParams();
  if (sites !== undefined) query.set('sites', sites.join(','));
  if (users !== undefined) query.set('users', users.join(','));
  if (events !== undefined) query.set('events', events.join(','));
  for (const name of ['from', 'to', 'limit', 'format'] as const) if (values[name] !== undefined) query.set(name, values[name]!);
  if (values.follow === true) query.set('follow', '1');
  const base = url.replace(/\/$/, '');
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  let res;
  try {
    res = await fetch(`${base}/api/events/${stream}?${query}`, { headers: { authorization: `Bearer ${values.token ?? process.env.HUB_TOKEN ?? ''}` }, signal: abort.signal });
  } catch (e) {
    const reason = ((e as Error).cause as Error | undefined)?.message ?? (e as Error).message;
    throw new Error(`cannot reach the hub at ${base} (${reason}): is it running (npm start), and is --url right?`, { cause: e });
  }
  if (!res.ok || res.body === null) {
    console.error(`npm run events: hub answered ${res.status}: ${await res.text()}`);
    return 1;
  }
  const out = output();
  const body = res.body.getReader();
  let bytes = 0;
  try {
    for (let r = await body.read(); !r.done; r = await body.read()) {
      bytes += r.value.length;
      await write(out, r.value);
    }
  } catch (e) {
    if (!abort.signal.aborted) throw new Error(`the hub cut the export after ${bytes} bytes: ${(e as Error).message}`, { cause: e });
  }
  await finish(out);
  if (bytes === 0) console.error(`npm run events: no events of ${selection()}`);
  return 0;
}

async function fromLog(): Promise<number> {
  const ns = process.env.HUB_NAMESPACE ?? 'plant';
  if (!isValidNamespace(ns)) {
    console.error(`npm run events: HUB_NAMESPACE=${JSON.stringify(ns)} must match [A-Za-z0-9_-]{1,32}`);
    return 2;
  }
  const url = process.env.NATS_URL ?? `nats://127.0.0.1:${process.env.HUB_EMBEDDED_NATS_PORT ?? 4223}`;
  const nc = await connectForCommand(url, 'events-export');
  let count = 0;
  try {
    const reader = await LogReader.connect({ connection: nc, namespace: ns, stream, sites, users, events, from, to, limit, follow: values.follow === true });
    process.once('SIGINT', () => void reader.close());
    const out = output();
    for await (const batch of reader.batches()) {
      count += batch.length;
      await write(out, encoder.encode(batch));
    }
    await write(out, encoder.end());
    await finish(out);
  } catch (e) {
    // A reader gone away (`| head`) ends the export quietly.
    if ((e as NodeJS.ErrnoException).code === 'EPIPE') return 0;
    throw e;
  } finally {
    await nc.close();
  }
  if (count === 0) console.error(`npm run events: no events of ${selection()} (namespace ${ns}, NATS at ${url})`);
  return 0;
}

runCommand('npm run events', () => (values.url !== undefined ? fromHub(values.url) : fromLog()));
