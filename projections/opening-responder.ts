/**
 * While a process opens its embedded database (seconds to half a minute the first time), `npm run projections
 * -- status` and `rebuild` would meet silence on NATS, then the database's lock, and say the holder "did not
 * answer". Meanwhile this answers them for the runner to come, saying what it waits for. Stopped before the
 * runner subscribes: both are in the queue group, and only the runner may answer once it can.
 */
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { statusSubject } from './projection-status.ts';
import { rebuildSubject } from './projection-runner.ts';

export class OpeningResponder {
  readonly #nc: NatsConnection | undefined;
  readonly #subscriptions: readonly Subscription[];

  private constructor(nc: NatsConnection | undefined, subscriptions: readonly Subscription[]) {
    this.#nc = nc;
    this.#subscriptions = subscriptions;
  }

  /** `error` is the answer's message. Without NATS this does nothing: it only improves a message. */
  static async start(natsUrl: string, namespace: string, error: string, log: Logger): Promise<OpeningResponder> {
    let nc: NatsConnection;
    try {
      nc = await connect({ servers: natsUrl, name: `projections-opening-${namespace}`, timeout: 3000 });
    } catch (e) {
      log.debug({ err: (e as Error).message }, 'projections: no NATS to answer status requests while the database opens');
      return new OpeningResponder(undefined, []);
    }
    const answer = JSON.stringify({ ok: false, error });
    const subscriptions = [statusSubject(namespace), rebuildSubject(namespace)].map((subject) => nc.subscribe(subject, { queue: 'projections', callback: (_err, msg) => void msg.respond(answer) }));
    await nc.flush();
    return new OpeningResponder(nc, subscriptions);
  }

  async stop(): Promise<void> {
    for (const s of this.#subscriptions) s.unsubscribe();
    await this.#nc?.close();
  }
}
