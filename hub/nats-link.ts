/**
 * The hub's NATS connection: retried with backoff until NATS answers (a clear
 * log line per attempt, never a crash), then kept alive by nats.js reconnects.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '@nats-io/transport-node';
import { natsServers } from '../protocol/nats-servers.ts';
import type { Logger } from './logger.ts';

/**
 * `url`: one URL or a comma-separated list. With a cluster's nodes listed, the hub connects to the
 * first that answers, in the order given (list each hub's nearest node first, and hubs spread over the
 * nodes), and reconnects go round the list (and the nodes the cluster advertises) forever.
 */
export async function connectWithRetry(url: string, name: string, log: Logger, signal?: AbortSignal): Promise<NatsConnection> {
  const servers = natsServers(url);
  let delay = 250;
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      // No async stack trace captured per request (an Error per request): at thousands of KV writes and appends a second, that capture was the largest item of the hub's JS time.
      const nc = await connect({ servers, noRandomize: true, name, maxReconnectAttempts: -1, reconnectTimeWait: 500, timeout: 3000, pingInterval: 10_000, noAsyncTraces: true });
      log.info({ url, server: nc.info?.server_name ?? nc.info?.server_id }, 'connected to NATS');
      watchStatus(nc, log);
      return nc;
    } catch (e) {
      log.warn({ url, attempt, retryInMs: delay, err: (e as Error).message }, 'NATS unreachable; retrying');
      await sleep(delay, undefined, { signal }).catch(() => signal?.throwIfAborted());
      delay = Math.min(delay * 2, 10_000);
    }
  }
}

/** Connections currently between a disconnect and a reconnect (nats.js only says `isClosed`, which stays false meanwhile). */
const down = new WeakSet<NatsConnection>();

/** True while the connection is up: not closed, and not waiting to reconnect. */
export function natsLinkUp(nc: NatsConnection | undefined): boolean {
  return nc !== undefined && !nc.isClosed() && !down.has(nc);
}

async function watchStatus(nc: NatsConnection, log: Logger): Promise<void> {
  for await (const s of nc.status()) {
    if (s.type === 'disconnect') {
      down.add(nc);
      log.warn({ server: s.server }, 'NATS disconnected; reconnecting');
    } else if (s.type === 'reconnect') {
      down.delete(nc);
      log.info({ server: s.server }, 'NATS reconnected');
    } else if (s.type === 'error') log.error({ err: String(s.error) }, 'NATS error');
  }
}
