/**
 * Appends one event of each seed kind for a site with HubPublisher
 * (with `alarm`: just one alarm).
 *   npx tsx docs/examples/publish.ts [siteId] [alarm]
 * NATS_URL default: the embedded nats-server that `npm start` launches.
 */
import { HubPublisher } from '../../protocol/publisher.ts';

const siteId = process.argv[2] ?? '1';
const pub = await HubPublisher.connect({ servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4223', namespace: process.env.HUB_NAMESPACE ?? 'plant' });
console.log('alarm:new at offset', await pub.sendAlarmNotification({ id: Date.now(), siteId, title: 'Mixer 2 overload', level: 'critical' }));
if (process.argv[3] === 'alarm') {
  await pub.close();
  process.exit(0);
}
console.log('production:update at offset', await pub.sendProductionUpdate(siteId, { type: 'batch_started', batch: { id: 77, volume: 8 } }));
console.log('task:update at offset', await pub.sendTaskUpdate(siteId, { id: 5, status: 'delivering' }));
console.log('system:message at offset', await pub.broadcastSystemMessage('Maintenance tonight at 22:00', 'warning'));
console.log('online users:', await pub.getOnlineUsersCount(), 'on site', siteId, ':', await pub.getSiteOnlineUsersCount(siteId));
await pub.close();
