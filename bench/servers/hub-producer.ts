/**
 * The hub's producer, in its own process (so its CPU is read apart from the
 * hub's): HubPublisher appending to JetStream asynchronously, as a backend
 * service would, bounded in flight.
 */
import { HubPublisher } from '../../protocol/publisher.ts';
import { fatal, serveBench } from './child-ipc.ts';
import { Producer } from './producer.ts';

const servers = process.env.NATS_URL ?? fatal('NATS_URL is not set');
const namespace = process.env.HUB_NAMESPACE ?? fatal('HUB_NAMESPACE is not set');
const publisher = await HubPublisher.connect({ servers, namespace, name: 'bench-producer', timeoutMs: 10_000 });
const producer = new Producer({
  // `append` stores the event with a fresh Nats-Msg-Id and resolves to its offset.
  emit: (name, event) => publisher.append({ event: name, siteId: event.siteId, data: event }),
});
serveBench(0, {}, { produce: (plan) => producer.run(plan), stop: () => publisher.close() });
