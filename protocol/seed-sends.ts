/**
 * The seed's WebSocketService send methods, with its names and arguments, each
 * turned into one AppendRequest. HubPublisher (every send resolves to its offset)
 * and WebSocketService (every send is void and never throws, as Socket.IO's emit)
 * differ only in what `send` returns, so the mapping lives here once.
 */
import type { SystemLevel } from './catalogue.ts';
import type { AppendRequest } from './event-append.ts';

/** A site or user id as the seed's rows carry it: a number, a string, or a Prisma BigInt. */
export type Id = string | number | bigint;

/** Per-call options, after the seed's arguments. */
export interface SendOptions {
  /**
   * Idempotency key (`Nats-Msg-Id`): an append retried with the same id within the
   * stream's duplicate window is stored once and resolves to the first offset.
   * Default: a fresh id per call.
   */
  readonly msgId?: string;
}

export abstract class SeedSends<R> {
  /** Appends one request; what a send returns is what this returns. */
  protected abstract send(request: AppendRequest, options?: SendOptions): R;

  /** Appends a new alarm; its site is `alarm.siteId` or `alarm.site_id`. */
  sendAlarmNotification(alarm: object, options?: SendOptions): R {
    return this.send({ event: 'alarm:new', data: alarm }, options);
  }

  sendAlarmUpdate(alarm: object, options?: SendOptions): R {
    return this.send({ event: 'alarm:update', data: alarm }, options);
  }

  /** A private notification: only that user's sockets receive it. */
  sendUserNotification(userId: Id, notification: unknown, options?: SendOptions): R {
    return this.send({ event: 'notification:new', userId, data: notification }, options);
  }

  /** A notification every connected user receives. */
  sendGlobalNotification(notification: unknown, options?: SendOptions): R {
    return this.send({ event: 'notification:new', data: notification }, options);
  }

  sendProductionUpdate(siteId: Id, data: unknown, options?: SendOptions): R {
    return this.send({ event: 'production:update', siteId, data }, options);
  }

  sendTaskUpdate(siteId: Id, task: unknown, options?: SendOptions): R {
    return this.send({ event: 'task:update', siteId, data: task }, options);
  }

  sendOrderUpdate(siteId: Id, order: unknown, options?: SendOptions): R {
    return this.send({ event: 'order:update', siteId, data: order }, options);
  }

  sendVehicleUpdate(siteId: Id, vehicle: unknown, options?: SendOptions): R {
    return this.send({ event: 'vehicle:update', siteId, data: vehicle }, options);
  }

  sendInventoryUpdate(siteId: Id, inventory: unknown, options?: SendOptions): R {
    return this.send({ event: 'inventory:update', siteId, data: inventory }, options);
  }

  sendDashboardUpdate(siteId: Id, data: unknown, options?: SendOptions): R {
    return this.send({ event: 'dashboard:update', siteId, data }, options);
  }

  /** A `system:message {message, level, timestamp}` to everyone. */
  broadcastSystemMessage(message: string, level: SystemLevel = 'info', options?: SendOptions): R {
    return this.send({ event: 'system:message', data: { message, level, timestamp: new Date().toISOString() } }, options);
  }

  /**
   * Domain-event shorthands (protocol/domain-events.ts): the seed's payloads with the
   * `type` the projections fold. Tasks, orders and vehicles need none: their seed
   * updates carry `{id, status}`.
   */
  sendBatchStarted(siteId: Id, batch: { id: Id; volume?: number | string | object }, options?: SendOptions): R {
    return this.sendProductionUpdate(siteId, { type: 'batch_started', batch }, options);
  }

  /** `batch.volume` is what the batch produced (m³; a number, or a Decimal); it adds to today's production. */
  sendBatchCompleted(siteId: Id, batch: { id: Id; volume: number | string | object }, options?: SendOptions): R {
    return this.sendProductionUpdate(siteId, { type: 'batch_completed', batch }, options);
  }

  /**
   * `inventory:update {type, material, quantity}`: `stock_in` and `stock_out` take a
   * quantity ≥ 0, `adjustment` a signed correction. `material.threshold` arms the low-stock alarm.
   */
  sendStockMovement(siteId: Id, type: 'stock_in' | 'stock_out' | 'adjustment', material: { id: Id; name?: string; unit?: string; threshold?: number | string | object }, quantity: number | string | object, options?: SendOptions): R {
    return this.sendInventoryUpdate(siteId, { type, material, quantity }, options);
  }

  /** `alarm:update` with `status: 'acknowledged'`. */
  sendAlarmAcknowledged(alarm: object, options?: SendOptions): R {
    return this.sendAlarmUpdate({ ...alarm, status: 'acknowledged' }, options);
  }

  /** `alarm:update` with `status: 'cleared'`: the alarm is no longer open. */
  sendAlarmCleared(alarm: object, options?: SendOptions): R {
    return this.sendAlarmUpdate({ ...alarm, status: 'cleared' }, options);
  }
}
