/** The workers' NATS connection: retried with backoff until NATS answers, then kept alive by nats.js. */
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { backoffDelay, sleep } from './backoff.ts';

export async function connectNats(url: string, name: string, log: Logger, maxBackoffMs: number, signal?: AbortSignal): Promise<NatsConnection> {
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      const nc = await connect({ servers: url, name, maxReconnectAttempts: -1, reconnectTimeWait: 500, timeout: 3000, pingInterval: 10_000 });
      void (async () => {
        for await (const s of nc.status()) {
          if (s.type === 'disconnect') log.warn({ url }, 'projections: NATS disconnected; reconnecting (folding pauses, nothing is lost)');
          else if (s.type === 'reconnect') log.info({ url }, 'projections: NATS reconnected');
        }
      })();
      return nc;
    } catch (e) {
      const delay = backoffDelay(attempt, maxBackoffMs);
      log.warn({ url, attempt, retryInMs: delay, err: (e as Error).message }, 'projections: NATS unreachable; retrying');
      await sleep(delay, signal);
    }
  }
}
