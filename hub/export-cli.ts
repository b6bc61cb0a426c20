/**
 * `npm run events -- --site 7 [--from <offset|ISO time>] [--to <offset|ISO time>]`:
 * a site's events as NDJSON on stdout, for analytics. Reads the log directly
 * (NATS_URL, default the embedded server); with `--url http://host:3000` it asks
 * a hub instead, with `--token` (or HUB_TOKEN) scoping it to the token's sites.
 * Either way, output is written no faster than stdout takes it. An empty range
 * is said on stderr, so a pipe still gets nothing but events.
 */
import { once } from 'node:events';
import { jetstream } from '@nats-io/jetstream';
import { CommandLine, connectForCommand, runCommand } from '../protocol/cli/index.ts';
import { idToken, isValidNamespace, streamName } from '../protocol/subjects.ts';
import { exportSiteEvents, ExportRangeError, parseBound, type RangeBound } from './event-export.ts';

const cli = new CommandLine({
  name: 'npm run events',
  usage: 'usage: npm run events -- --site <id> [--from <offset|ISO time>] [--to <offset|ISO time>] [--url http://hub:3000 --token <jwt>]',
  details: `Writes a site's events as NDJSON on stdout, one {offset, ts, site, event, data} a line.
Reads the event log on NATS (NATS_URL, default the hub's embedded server at
nats://127.0.0.1:4223; HUB_NAMESPACE, default plant), or asks a hub with --url.

  --site <id>            the site (required)
  --from <offset|time>   first offset, or ISO 8601 time, included (default the start)
  --to <offset|time>     last offset, or ISO 8601 time, included (default the end now)
  --url <http url>       ask this hub's /api/sites/:id/events instead of NATS
  --token <jwt>          the bearer token for --url (default HUB_TOKEN)
  -h, --help             this text`,
  options: { site: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, url: { type: 'string' }, token: { type: 'string' } },
});
const { values } = cli.parse();
const site = idToken(values.site);
if (site === undefined) cli.fail(values.site === undefined ? '--site is required' : `--site ${JSON.stringify(values.site)} is not a site id`);
let from: RangeBound | undefined;
let to: RangeBound | undefined;
try {
  from = parseBound(values.from, '--from');
  to = parseBound(values.to, '--to');
} catch (e) {
  if (!(e instanceof ExportRangeError)) throw e;
  cli.fail(e.message);
}

async function write(line: string): Promise<void> {
  if (!process.stdout.write(line)) await once(process.stdout, 'drain');
}

function range(): string {
  return values.from === undefined && values.to === undefined ? '' : ` from ${values.from ?? 'the start'} to ${values.to ?? 'the end'}`;
}

async function fromHub(url: string): Promise<number> {
  const query = new URLSearchParams();
  if (values.from !== undefined) query.set('from', values.from);
  if (values.to !== undefined) query.set('to', values.to);
  const base = url.replace(/\/$/, '');
  let res;
  try {
    res = await fetch(`${base}/api/sites/${site}/events?${query}`, { headers: { authorization: `Bearer ${values.token ?? process.env.HUB_TOKEN ?? ''}` } });
  } catch (e) {
    const reason = ((e as Error).cause as Error | undefined)?.message ?? (e as Error).message;
    throw new Error(`cannot reach the hub at ${base} (${reason}): is it running (npm start), and is --url right?`, { cause: e });
  }
  if (!res.ok || res.body === null) {
    console.error(`npm run events: hub answered ${res.status}: ${await res.text()}`);
    return 1;
  }
  const reader = res.body.getReader();
  const text = new TextDecoder();
  let bytes = 0;
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    bytes += r.value.length;
    await write(text.decode(r.value, { stream: true }));
  }
  if (bytes === 0) console.error(`npm run events: no events of site ${site}${range()}`);
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
    for await (const e of exportSiteEvents(jetstream(nc), ns, site!, { from, to })) {
      count++;
      await write(JSON.stringify(e) + '\n');
    }
  } catch (e) {
    // JetStream's "stream not found": nothing was ever appended in this namespace on that server.
    if ((e as { code?: unknown }).code === 404 || /stream not found/i.test((e as Error).message)) {
      throw new Error(`no event log ${streamName(ns, 'site')} on NATS at ${url}: has a hub run there with HUB_NAMESPACE=${ns}?`, { cause: e });
    }
    throw e;
  } finally {
    await nc.close();
  }
  if (count === 0) console.error(`npm run events: no events of site ${site}${range()} (namespace ${ns}, NATS at ${url})`);
  return 0;
}

runCommand('npm run events', () => (values.url !== undefined ? fromHub(values.url) : fromLog()));
