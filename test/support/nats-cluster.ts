/**
 * A 3-node nats-server cluster with JetStream on loopback, for tests that kill
 * stream leaders: each node has its own client, route and monitoring ports and its
 * own store under one temp folder, and the cluster a unique name, so several runs
 * (and the machine's own server) never join each other.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { freePort } from './nats.ts';

const NATS_SERVER = process.env.TEST_NATS_SERVER ?? 'nats-server';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a value other than undefined; throws `what` after `timeoutMs`. */
async function poll<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last === undefined ? '' : ` (${(last as Error).message})`}`);
    await sleep(100);
  }
}

/** A node that would not start; `portTaken` when another process got one of its ports first. */
export class NodeStartError extends Error {
  override readonly name = 'NodeStartError';
  constructor(
    message: string,
    readonly portTaken: boolean,
  ) {
    super(message);
  }
}

export class ClusterNode {
  readonly name: string;
  readonly port: number;
  readonly routePort: number;
  readonly httpPort: number;
  readonly #configFile: string;
  #child: ChildProcess | undefined;

  constructor(name: string, ports: { port: number; routePort: number; httpPort: number }, configFile: string) {
    this.name = name;
    this.port = ports.port;
    this.routePort = ports.routePort;
    this.httpPort = ports.httpPort;
    this.#configFile = configFile;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    const c = this.#child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  /** Starts the process (same config, ports and store every time) and waits until it takes clients. */
  async start(): Promise<void> {
    if (this.running) return;
    const child = spawn(NATS_SERVER, ['-c', this.#configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    this.#child = child;
    // A test that times out is not given the chance to stop its cluster: the servers go with the process.
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    child.once('exit', () => process.off('exit', killOnExit));
    const exited = new Promise<never>((_, reject) => child.once('exit', () => reject(new NodeStartError(`nats-server ${this.name} exited: ${stderr.trim().split('\n').slice(-2).join(' | ')}`, /address already in use/.test(stderr)))));
    exited.catch(() => {});
    await Promise.race([
      exited,
      poll(`node ${this.name} listening`, 15_000, async () => {
        if (!this.running) return undefined;
        const nc = await connect({ servers: this.url, timeout: 500, reconnect: false });
        await nc.close();
        return true;
      }),
    ]);
  }

  /** SIGKILL: no lame duck, no flush; the store is what the disk holds. */
  async kill(): Promise<void> {
    await this.#signal('SIGKILL');
  }

  /** SIGTERM: the server shuts down cleanly. */
  async stop(): Promise<void> {
    await this.#signal('SIGTERM');
  }

  /** The node's JetStream view: `/jsz` of its monitoring port. */
  async jsz(): Promise<{ meta_cluster?: { leader?: string; cluster_size?: number } }> {
    const res = await fetch(`http://127.0.0.1:${this.httpPort}/jsz`, { signal: AbortSignal.timeout(2000) });
    return (await res.json()) as { meta_cluster?: { leader?: string; cluster_size?: number } };
  }

  /** `/healthz`: 'ok' once JetStream on this node is current (meta, and every stream and consumer it holds), else what is not. */
  async health(): Promise<string> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.httpPort}/healthz`, { signal: AbortSignal.timeout(2000) });
      const body = (await res.json()) as { status?: string; error?: string };
      return res.ok ? 'ok' : (body.error ?? body.status ?? `HTTP ${res.status}`);
    } catch (e) {
      return (e as Error).message;
    }
  }

  async #signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.#child;
    if (child === undefined || !this.running) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  }
}

/**
 * @example
 * const cluster = await NatsCluster.start();
 * const leader = await cluster.streamLeader('plant_site');
 * await leader.kill(); await cluster.waitForStreamLeader('plant_site'); await leader.start();
 * await cluster.stop();
 */
export class NatsCluster {
  readonly nodes: readonly ClusterNode[];
  readonly dir: string;

  private constructor(nodes: ClusterNode[], dir: string) {
    this.nodes = nodes;
    this.dir = dir;
  }

  /**
   * Starts `size` nodes with routes to each other and waits for a JetStream meta leader. Free ports
   * are picked before the servers bind them: on a shared machine another process may take one
   * meanwhile, and then the whole cluster is tried again on new ports.
   */
  static async start(size = 3): Promise<NatsCluster> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await NatsCluster.#startOnce(size);
      } catch (e) {
        if (!(e instanceof NodeStartError && e.portTaken) || attempt === 5) throw e;
      }
    }
  }

  static async #startOnce(size: number): Promise<NatsCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'hub-nats-cluster-'));
    const clusterName = `hc${process.pid.toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    const ports: Array<{ port: number; routePort: number; httpPort: number }> = [];
    for (let i = 0; i < size; i++) ports.push({ port: await freePort(), routePort: await freePort(), httpPort: await freePort() });
    const nodes = ports.map((p, i) => {
      const name = `n${i}`;
      const storeDir = join(dir, name);
      mkdirSync(storeDir);
      const routes = ports.filter((_, j) => j !== i).map((q) => `"nats-route://127.0.0.1:${q.routePort}"`);
      const configFile = join(dir, `${name}.conf`);
      writeFileSync(
        configFile,
        [
          `server_name: ${name}`,
          `listen: "127.0.0.1:${p.port}"`,
          `http: "127.0.0.1:${p.httpPort}"`,
          `jetstream { store_dir: ${JSON.stringify(storeDir)}, max_memory_store: 256MB, max_file_store: 2GB }`,
          `cluster { name: ${clusterName}, listen: "127.0.0.1:${p.routePort}", routes: [${routes.join(', ')}] }`,
          '',
        ].join('\n'),
      );
      return new ClusterNode(name, p, configFile);
    });
    const cluster = new NatsCluster(nodes, dir);
    try {
      await Promise.all(nodes.map((n) => n.start()));
      await cluster.waitForMetaLeader();
    } catch (e) {
      await cluster.stop();
      throw e;
    }
    return cluster;
  }

  /** Every node's client URL: what hubs, workers and publishers are given. */
  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  node(name: string): ClusterNode {
    const n = this.nodes.find((x) => x.name === name);
    if (n === undefined) throw new Error(`no node ${name} in the cluster`);
    return n;
  }

  /** Waits until every running node names the same JetStream meta leader; returns it. */
  async waitForMetaLeader(timeoutMs = 30_000): Promise<ClusterNode> {
    const name = await poll('JetStream meta leader', timeoutMs, async () => {
      const leaders = await Promise.all(this.nodes.filter((n) => n.running).map(async (n) => (await n.jsz()).meta_cluster?.leader));
      const first = leaders[0];
      return first !== undefined && first !== '' && leaders.every((l) => l === first) ? first : undefined;
    });
    return this.node(name);
  }

  /** The node leading a stream now, asked through any running node. */
  async streamLeader(stream: string): Promise<ClusterNode> {
    const leader = await this.#ask(async (jsm) => (await jsm.streams.info(stream)).cluster?.leader);
    if (leader === undefined || leader === '') throw new Error(`${stream} has no leader now`);
    return this.node(leader);
  }

  /** Waits until a stream has a leader other than `not` (e.g. a node just killed); returns it. */
  async waitForStreamLeader(stream: string, not?: ClusterNode, timeoutMs = 30_000): Promise<ClusterNode> {
    const name = await poll(`leader of ${stream}`, timeoutMs, async () => {
      const leader = await this.#ask(async (jsm) => (await jsm.streams.info(stream)).cluster?.leader, 2000);
      return leader !== undefined && leader !== '' && leader !== not?.name ? leader : undefined;
    });
    return this.node(name);
  }

  /**
   * Waits until every running node has reported JetStream healthy (caught up) since the call: safe to take
   * another one down. Each node once, not all three in one poll: 2.9.10's /healthz wants every stream and
   * consumer of the node to have applied all it committed at that instant (2.9.12 accepts forward progress),
   * so under appends a caught-up node flickers (three nodes, none restarted, six R3 streams taking 2,600
   * appends/s: 16 of 96 polls found one "not current"), and three at once may not come on a loaded machine.
   * A restarted node catches up every stream and consumer it holds; on a loaded 2-core machine that
   * took over 30 s once (a full-suite run beside a bench), hence the minute. A timeout says what each
   * node not yet healthy last answered.
   */
  async waitHealthy(timeoutMs = 60_000): Promise<void> {
    const waiting = new Map(this.nodes.filter((n) => n.running).map((n) => [n, 'not asked yet']));
    try {
      await poll('every node healthy', timeoutMs, async () => {
        await Promise.all(
          [...waiting.keys()].map(async (n) => {
            const health = await n.health();
            if (health === 'ok') waiting.delete(n);
            else waiting.set(n, health);
          }),
        );
        return waiting.size === 0 ? true : undefined;
      });
    } catch (e) {
      throw new Error(`${(e as Error).message}; ${[...waiting].map(([n, health]) => `${n.name}: ${health}`).join('; ')}`, { cause: e });
    }
  }

  /** Stops every node cleanly and removes the stores. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  async #ask<T>(question: (jsm: Awaited<ReturnType<typeof jetstreamManager>>) => Promise<T>, timeoutMs = 5000): Promise<T> {
    const nc = await connect({ servers: this.nodes.filter((n) => n.running).map((n) => n.url), timeout: timeoutMs, reconnect: false });
    try {
      return await question(await jetstreamManager(nc, { timeout: timeoutMs }));
    } finally {
      await nc.close();
    }
  }
}
