/**
 * The backend entry (`plant-realtime-hub/publisher`): what services use to
 * append events. Node only (NATS TCP transport): browsers never import this
 * entry, and it imports nothing from NestJS (that is `plant-realtime-hub/nest`).
 * - WebSocketService: the seed's service, drop-in: void sends through an outbox.
 * - HubPublisher: the same methods, each resolving to its offset.
 */
export { AppendError, HubPublisher, type HubPublisherOptions } from './hub-publisher.ts';
export { natsServers, NatsServersError } from './nats-servers.ts';
export type { Id, SendOptions } from './seed-sends.ts';
export { WebSocketService, type WebSocketServiceOptions, type ServiceLogger } from './websocket-service.ts';
export type { DropReason, OutboxStats } from './append-outbox.ts';
