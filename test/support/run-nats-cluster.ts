/**
 * A 3-node JetStream cluster on free loopback ports for manual runs and benches,
 * until Ctrl-C (its stores are removed then):
 *
 *   node --import tsx test/support/run-nats-cluster.ts
 *   npm run bench -- append --replicas 3 --nats-url "$(the NATS_URL it prints)"
 */
import { NatsCluster } from './nats-cluster.ts';

const cluster = await NatsCluster.start(3);
const leader = await cluster.waitForMetaLeader();
console.log(`NATS_URL=${cluster.urls.join(',')}`);
console.log(`3 nodes (${cluster.nodes.map((n) => `${n.name} client ${n.port} monitor ${n.httpPort}`).join('; ')}), meta leader ${leader.name}; Ctrl-C stops them`);
await new Promise<void>((resolve) => {
  process.once('SIGINT', resolve);
  process.once('SIGTERM', resolve);
});
await cluster.stop();
