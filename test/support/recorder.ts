/** A HubClient that records what it receives, for assertions. */
import { WebSocket } from 'ws';
import { EVENT_NAMES, type EventMeta, HubClient, type HubClientOptions } from '../../protocol/index.ts';

export interface Received {
  readonly name: string;
  readonly data: any;
  readonly meta: EventMeta | undefined;
}

export class Recorder {
  readonly client: HubClient;
  readonly received: Received[] = [];
  #waiters: Array<() => void> = [];

  constructor(options: Omit<HubClientOptions, 'WebSocket'>) {
    // No reconnecting unless a test asks: a failed test must not leave a client retrying forever.
    this.client = new HubClient({ WebSocket, reconnect: false, ...options });
    for (const name of [...EVENT_NAMES, 'error', 'disconnect', 'recovered']) {
      this.client.on(name, (data, meta) => {
        this.received.push({ name, data, meta });
        for (const w of this.#waiters) w();
      });
    }
  }

  static async connect(url: string | readonly string[], token: string, options: Partial<HubClientOptions> = {}): Promise<Recorder> {
    const r = new Recorder({ url, token, ...options });
    await r.client.connect();
    return r;
  }

  /** Events of a name, in arrival order. */
  of(name: string): Received[] {
    return this.received.filter((r) => r.name === name);
  }

  /** Resolves once `predicate` holds over what was received; rejects after `timeoutMs`. */
  waitFor(predicate: (received: Received[]) => boolean, timeoutMs = 5000): Promise<void> {
    if (predicate(this.received)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate(this.received)) return;
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((w) => w !== check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== check);
        reject(new Error(`timed out after ${timeoutMs} ms; received: ${JSON.stringify(this.received.map((r) => (r.name === 'disconnect' ? r.data : r.name)))}`));
      }, timeoutMs);
      this.#waiters.push(check);
    });
  }

  /**
   * For "must not receive" checks, after a positive control that shows the hub has dispatched what must not
   * arrive (another client got it, or a later event of the same log arrived): a ping round trip. The hub answers
   * it after every frame it had queued for this socket, so whatever it sent this client has arrived by the pong.
   */
  async settle(): Promise<void> {
    await this.client.ping();
  }

  close(): void {
    this.client.close();
  }
}
