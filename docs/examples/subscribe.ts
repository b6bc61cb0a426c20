/**
 * Connects a HubClient and prints every event of one site, its user's notifications and the broadcasts.
 *   npx tsx docs/examples/subscribe.ts [siteId] [token]
 * Token default: `npm run token` with the development secret.
 */
import { execFileSync } from 'node:child_process';
import { WebSocket } from 'ws';
import { EVENT_NAMES, HubClient } from '../../protocol/index.ts';

const siteId = process.argv[2] ?? '1';
const token = process.argv[3] ?? execFileSync('npx', ['tsx', 'hub/token-cli.ts', '--sub', 'example-viewer', '--sites', siteId], { encoding: 'utf8' }).trim();
const client = new HubClient({ url: process.env.HUB_URL ?? 'ws://127.0.0.1:3000/ws', token, WebSocket });
for (const name of EVENT_NAMES) client.on(name, (data, meta) => console.log(name, `offset=${meta?.offset}`, JSON.stringify(data)));
client.on('disconnect', (info) => console.log('disconnected', info));
client.on('reconnecting', (info) => console.log('reconnecting', info));
client.on('recovered', (info) => console.log('recovered', info));
console.log('connected', await client.connect());
console.log('subscribed', await client.subscribeSite(siteId));
console.log('subscribed', await client.subscribeNotifications());
