/**
 * A TCP proxy a test or bench can cut and restore (a database outage for one client, without touching the shared
 * server), and throttle: a slow link, whose sender sees backpressure as it would over a real one.
 */
import { createServer, type Server, type Socket, connect } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';

export interface TcpProxyOptions {
  /** Server-to-client bandwidth in bytes per second (a token bucket); default unlimited. */
  readonly bytesPerSecond?: number;
}

export class TcpProxy {
  /** Where clients connect: chosen by the system at start, and kept across a cut and restore. */
  #port = 0;
  #target: { host: string; port: number };
  readonly #sockets = new Set<Socket>();
  /** Server-to-client halves, to stall a client that stops reading. */
  readonly #downstream = new Map<Socket, NodeJS.WritableStream>();
  #server: Server | undefined;
  readonly #bytesPerSecond: number | undefined;

  private constructor(target: { host: string; port: number }, options: TcpProxyOptions) {
    this.#target = target;
    this.#bytesPerSecond = options.bytesPerSecond;
  }

  static async start(target: { host: string; port: number }, options: TcpProxyOptions = {}): Promise<TcpProxy> {
    const proxy = new TcpProxy(target, options);
    await proxy.restore();
    return proxy;
  }

  /** Accepts connections again. */
  restore(): Promise<void> {
    if (this.#server !== undefined) return Promise.resolve();
    const server = createServer((client) => {
      const upstream = connect(this.#target);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream);
      // The throttle holds one small chunk at a time: pipe() pauses reading upstream behind it, so the
      // server's kernel buffers fill and then its own, as over a slow link.
      let next: NodeJS.WritableStream = client;
      if (this.#bytesPerSecond !== undefined) {
        const throttle = new Throttle(this.#bytesPerSecond);
        throttle.pipe(client);
        client.on('close', () => throttle.destroy());
        next = throttle;
      }
      upstream.pipe(next);
      this.#downstream.set(upstream, next);
      upstream.on('close', () => this.#downstream.delete(upstream));
      client.on('close', () => upstream.destroy());
      // A server that closes cleanly (its close frame, then FIN) has its last bytes passed on first: pipe()
      // ends the client side once they are through. Destroying the client at once lost them (seen as 1006).
      upstream.on('close', (hadError) => {
        if (hadError) client.destroy();
      });
    });
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => {
        this.#port = (server.address() as { port: number }).port;
        resolve();
      });
    });
  }

  get port(): number {
    return this.#port;
  }

  /** Stops passing what the server sends: a client that no longer reads (its TCP window closes). */
  stall(): void {
    for (const [upstream, client] of this.#downstream) {
      upstream.unpipe(client);
      upstream.pause();
    }
  }

  /** Passes the server's bytes again. */
  unstall(): void {
    for (const [upstream, client] of this.#downstream) upstream.pipe(client);
  }

  /** Sends new connections elsewhere (a load balancer moving clients to another hub). */
  retarget(target: { host: string; port: number }): void {
    this.#target = target;
  }

  /** Drops every open connection and refuses new ones, as a server that went away. */
  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    if (server !== undefined) await new Promise((r) => server.close(r));
  }
}

/** A token bucket as a stream: passes bytes at `bytesPerSecond`, in bursts of at most 16 KB. */
class Throttle extends Transform {
  readonly #rate: number;
  readonly #burst: number;
  #tokens: number;
  #refilledAt = performance.now();

  constructor(bytesPerSecond: number) {
    super({ highWaterMark: 16 * 1024 });
    this.#rate = bytesPerSecond;
    this.#burst = Math.min(16 * 1024, Math.max(1024, Math.floor(bytesPerSecond / 100)));
    this.#tokens = this.#burst;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#pass(chunk, done);
  }

  #pass(chunk: Buffer, done: TransformCallback): void {
    if (this.destroyed) return;
    const now = performance.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#refilledAt) * this.#rate) / 1000);
    this.#refilledAt = now;
    const n = Math.min(chunk.length, Math.floor(this.#tokens));
    if (n > 0) {
      this.push(chunk.subarray(0, n));
      this.#tokens -= n;
    }
    if (n === chunk.length) {
      done();
      return;
    }
    const rest = chunk.subarray(n);
    const waitMs = Math.max(1, ((Math.min(rest.length, this.#burst) - this.#tokens) * 1000) / this.#rate);
    setTimeout(() => this.#pass(rest, done), waitMs);
  }
}
