/** A TCP proxy a test can cut and restore: a database outage for one client, without touching the shared server. */
import { createServer, type Server, type Socket, connect } from 'node:net';
import { freePort } from './nats.ts';

export class TcpProxy {
  readonly port: number;
  #target: { host: string; port: number };
  readonly #sockets = new Set<Socket>();
  /** Server-to-client halves, to stall a client that stops reading. */
  readonly #downstream = new Map<Socket, Socket>();
  #server: Server | undefined;

  private constructor(port: number, target: { host: string; port: number }) {
    this.port = port;
    this.#target = target;
  }

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(await freePort(), target);
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
      client.pipe(upstream).pipe(client);
      this.#downstream.set(upstream, client);
      upstream.on('close', () => this.#downstream.delete(upstream));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    this.#server = server;
    return new Promise((resolve) => server.listen(this.port, '127.0.0.1', () => resolve()));
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
