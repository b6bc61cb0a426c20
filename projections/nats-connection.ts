/** The workers' NATS connection: retried with backoff until NATS answers, then kept alive by nats.js. */
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { natsServers } from '../protocol/nats-servers.ts';
import { backoffDelay, sleep } from './backoff.ts';

/** `url`: one URL or a comma-separated list (every node of a cluster); reconnects go round it forever. */
export async function connectNats(url: string, name: string, log: Logger, maxBackoffMs: number, signal?: AbortSignal): Promise<NatsConnection> {
  const servers = natsServers(url);
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      // noAsyncTraces: no Error (and stack capture) made per request (acks, appends); the errors keep their messages.
      const nc = await connect({ servers, name, maxReconnectAttempts: -1, reconnectTimeWait: 500, timeout: 3000, pingInterval: 10_000, noAsyncTraces: true });
      void (async () => {
        for await (const s of nc.status()) {
          if (s.type === 'disconnect') log.warn({ url }, 'projections: NATS disconnected; reconnecting (folding pauses, nothing is lost)');
          else if (s.type === 'reconnect') log.info({ url, server: s.server }, 'projections: NATS reconnected');
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
