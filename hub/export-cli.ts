/**
 * `npm run events -- --site 7 [--from <offset|ISO time>] [--to <offset|ISO time>]`:
 * a site's events as NDJSON on stdout, for analytics. Reads the log directly
 * (NATS_URL, default the embedded server); with `--url http://host:3000` it asks
 * a hub instead, with `--token` (or HUB_TOKEN) scoping it to the token's sites.
 * Either way, output is written no faster than stdout takes it.
 */
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { idToken, isValidNamespace } from '../protocol/subjects.ts';
import { exportSiteEvents, ExportRangeError, parseBound } from './event-export.ts';

const { values } = parseArgs({
  options: { site: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, url: { type: 'string' }, token: { type: 'string' } },
});

async function write(line: string): Promise<void> {
  if (!process.stdout.write(line)) await once(process.stdout, 'drain');
}

async function main(): Promise<number> {
  const site = idToken(values.site);
  if (site === undefined) {
    console.error('usage: npm run events -- --site <id> [--from <offset|ISO time>] [--to <offset|ISO time>] [--url http://hub:3000 --token <jwt>]');
    return 2;
  }
  let from;
  let to;
  try {
    from = parseBound(values.from, '--from');
    to = parseBound(values.to, '--to');
  } catch (e) {
    if (!(e instanceof ExportRangeError)) throw e;
    console.error(e.message);
    return 2;
  }
  if (values.url !== undefined) {
    const query = new URLSearchParams();
    if (values.from !== undefined) query.set('from', values.from);
    if (values.to !== undefined) query.set('to', values.to);
    const res = await fetch(`${values.url.replace(/\/$/, '')}/api/sites/${site}/events?${query}`, { headers: { authorization: `Bearer ${values.token ?? process.env.HUB_TOKEN ?? ''}` } });
    if (!res.ok || res.body === null) {
      console.error(`hub answered ${res.status}: ${await res.text()}`);
      return 1;
    }
    const reader = res.body.getReader();
    const text = new TextDecoder();
    for (let r = await reader.read(); !r.done; r = await reader.read()) await write(text.decode(r.value, { stream: true }));
    return 0;
  }
  const ns = process.env.HUB_NAMESPACE ?? 'plant';
  if (!isValidNamespace(ns)) {
    console.error(`HUB_NAMESPACE=${JSON.stringify(ns)} must match [A-Za-z0-9_-]{1,32}`);
    return 2;
  }
  const nc = await connect({ servers: process.env.NATS_URL ?? `nats://127.0.0.1:${process.env.HUB_EMBEDDED_NATS_PORT ?? 4223}`, name: 'events-export' });
  try {
    for await (const e of exportSiteEvents(jetstream(nc), ns, site, { from, to })) await write(JSON.stringify(e) + '\n');
  } finally {
    await nc.close();
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(`events: ${e.message}`);
    process.exit(1);
  },
);
