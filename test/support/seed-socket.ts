/**
 * A front-end as the seed writes it: socket.io-client to `<hub>/ws` with
 * `auth: {token}`, default transports unless a test asks otherwise. Records every
 * event with the recovery offset socket.io-client keeps (its last argument).
 */
import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import { EVENT_NAMES } from '../../protocol/index.ts';

export interface SeedEvent {
  readonly name: string;
  readonly data: any;
  /** The last string argument, if any: the recovery offset. */
  readonly offset: string | undefined;
}

const REPLIES = ['connected', 'subscribed', 'unsubscribed', 'pong', 'exception', 'auth:expiring', 'auth:refreshed'];

export class SeedSocket {
  readonly socket: Socket;
  readonly received: SeedEvent[] = [];
  readonly connects: boolean[] = [];
  #waiters: Array<() => void> = [];

  constructor(url: string, token: string | undefined, options: Partial<ManagerOptions & SocketOptions> = {}) {
    // Reconnection stays on (it is what recovery rides on) but a failed test must not keep retrying forever.
    this.socket = io(url, { auth: token === undefined ? {} : { token }, reconnectionDelay: 100, reconnectionDelayMax: 500, ...options });
    for (const name of [...EVENT_NAMES, ...REPLIES]) {
      this.socket.on(name, (data: unknown, ...rest: unknown[]) => this.#push({ name, data, offset: typeof rest.at(-1) === 'string' ? (rest.at(-1) as string) : undefined }));
    }
    this.socket.on('connect', () => {
      this.connects.push(this.socket.recovered);
      this.#wake();
    });
  }

  /** The seed's connection code, then waits for `connected`. */
  static async connect(url: string, token: string | undefined, options: Partial<ManagerOptions & SocketOptions> = {}): Promise<SeedSocket> {
    const s = new SeedSocket(url, token, options);
    await s.waitFor((r) => r.some((e) => e.name === 'connected'));
    return s;
  }

  /** Emits and waits for the reply event named `reply` that follows. */
  async request(event: string, args: unknown, reply: string): Promise<SeedEvent> {
    const before = this.of(reply).length;
    if (args === undefined) this.socket.emit(event);
    else this.socket.emit(event, args);
    await this.waitFor(() => this.of(reply).length > before);
    return this.of(reply)[before]!;
  }

  of(name: string): SeedEvent[] {
    return this.received.filter((e) => e.name === name);
  }

  /** Events of the seed's catalogue only (no replies), in arrival order. */
  get events(): SeedEvent[] {
    return this.received.filter((e) => (EVENT_NAMES as readonly string[]).includes(e.name));
  }

  waitFor(predicate: (received: SeedEvent[]) => boolean, timeoutMs = 10_000): Promise<void> {
    if (predicate(this.received)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== check);
        reject(new Error(`timed out; received: ${JSON.stringify(this.received.slice(-10).map((e) => e.name))}`));
      }, timeoutMs);
      const check = () => {
        if (!predicate(this.received)) return;
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((w) => w !== check);
        resolve();
      };
      this.#waiters.push(check);
    });
  }

  close(): void {
    this.socket.close();
  }

  #push(e: SeedEvent): void {
    this.received.push(e);
    this.#wake();
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }
}

/** Connects without retrying and resolves with the `connect_error` the hub answers (rejects if it connects). */
export function refusal(url: string, options: Partial<ManagerOptions & SocketOptions>): Promise<Error & { data?: { code?: number } }> {
  const socket = io(url, { reconnection: false, ...options });
  return new Promise((resolve, reject) => {
    socket.once('connect_error', (e) => {
      socket.close();
      resolve(e);
    });
    socket.once('connect', () => {
      socket.close();
      reject(new Error('connected where a refusal was expected'));
    });
  });
}
