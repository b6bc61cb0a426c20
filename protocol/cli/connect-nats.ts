/**
 * NATS for a one-shot command (`npm run events`, `npm run projections -- status`):
 * one attempt, and an unreachable server is a message naming the URL and what
 * usually fixes it, not nats.js's bare "connection refused".
 */
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { natsServers } from '../nats-servers.ts';

/** NATS did not answer at the URL a command was given. */
export class NatsUnreachableError extends Error {
  override readonly name = 'NatsUnreachableError';
}

/**
 * @example
 * const nc = await connectForCommand(process.env.NATS_URL ?? 'nats://127.0.0.1:4223', 'events-export');
 */
export async function connectForCommand(url: string, name: string): Promise<NatsConnection> {
  try {
    return await connect({ servers: natsServers(url), name, timeout: 5000 });
  } catch (e) {
    throw new NatsUnreachableError(`cannot reach NATS at ${url} (${(e as Error).message}): is the hub running (npm start) or NATS_URL set?`, { cause: e });
  }
}
