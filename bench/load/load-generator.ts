/**
 * The load generator as the main thread sees it: a few worker threads, each with
 * its share of the clients. Requests go to every worker; answers are merged
 * (counts summed, histograms merged, errors sampled).
 */
import { Worker } from 'node:worker_threads';
import type { ClientSpec, ConnectReport, ConnectRequest, FinishReport, PhaseGroupReport, Request, WorkerRequest } from './worker-protocol.ts';

interface Reply {
  readonly id: number;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: string;
}

/** A worker that failed a request; `cause` has its stack. */
export class LoadWorkerError extends Error {
  override readonly name = 'LoadWorkerError';
}

const WORKER_URL = new URL('./load-worker.ts', import.meta.url).href;
/** Workers do not inherit tsx's loader on Node 20; a one-line bootstrap registers it first. */
const BOOTSTRAP = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL)}); })`;

class WorkerHandle {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  #nextId = 1;
  #dead: Error | undefined;

  constructor(index: number) {
    this.#worker = new Worker(BOOTSTRAP, { eval: true, name: `load-${index}` });
    this.#worker.on('message', (m: Reply) => {
      const p = this.#pending.get(m.id);
      if (p === undefined) return;
      this.#pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new LoadWorkerError(`load worker ${index}: ${m.error?.split('\n')[0]}`, { cause: m.error }));
    });
    const die = (e: Error) => {
      this.#dead = e;
      for (const p of this.#pending.values()) p.reject(e);
      this.#pending.clear();
    };
    this.#worker.on('error', (e) => die(new LoadWorkerError(`load worker ${index} crashed: ${e.message}`, { cause: e })));
    this.#worker.on('exit', (code) => die(new LoadWorkerError(`load worker ${index} exited (${code})`)));
  }

  request<T>(req: WorkerRequest): Promise<T> {
    if (this.#dead !== undefined) return Promise.reject(this.#dead);
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#worker.postMessage({ ...req, id } satisfies Request);
    });
  }

  terminate(): Promise<number> {
    return this.#worker.terminate();
  }
}

export class LoadGenerator {
  readonly #workers: WorkerHandle[];

  private constructor(workers: WorkerHandle[]) {
    this.#workers = workers;
  }

  static start(workers: number): LoadGenerator {
    return new LoadGenerator(Array.from({ length: workers }, (_, i) => new WorkerHandle(i)));
  }

  get size(): number {
    return this.#workers.length;
  }

  /** Spreads the clients over the workers (round robin, so each worker has every site) and connects them. */
  async connect(req: Omit<ConnectRequest, 'type' | 'clients' | 'ratePerS'> & { ratePerS: number }, clients: readonly ClientSpec[]): Promise<ConnectReport[]> {
    const n = this.#workers.length;
    const shares: ClientSpec[][] = this.#workers.map(() => []);
    clients.forEach((c, i) => shares[i % n]!.push(c));
    return Promise.all(this.#workers.map((w, i) => w.request<ConnectReport>({ ...req, type: 'connect', clients: shares[i]!, ratePerS: req.ratePerS / n })));
  }

  async received(): Promise<number> {
    const counts = await Promise.all(this.#workers.map((w) => w.request<number>({ type: 'received' })));
    return counts.reduce((a, b) => a + b, 0);
  }

  async phaseStats(phases: readonly number[]): Promise<PhaseGroupReport[]> {
    return (await Promise.all(this.#workers.map((w) => w.request<PhaseGroupReport[]>({ type: 'phase-stats', phases })))).flat();
  }

  async drop(group: number, jitterMs: number): Promise<number> {
    const n = await Promise.all(this.#workers.map((w) => w.request<number>({ type: 'drop', group, jitterMs })));
    return n.reduce((a, b) => a + b, 0);
  }

  async stall(group: number, ms: number): Promise<number> {
    const n = await Promise.all(this.#workers.map((w) => w.request<number>({ type: 'stall', group, ms })));
    return n.reduce((a, b) => a + b, 0);
  }

  finish(lastSeqBySite: readonly number[], failedBySite: Readonly<Record<number, readonly number[]>>, alarmEvery: number): Promise<FinishReport[]> {
    return Promise.all(this.#workers.map((w) => w.request<FinishReport>({ type: 'finish', lastSeqBySite, failedBySite, alarmEvery })));
  }

  /** Closes every client and stops the threads (bounded: a stuck worker is terminated after 5 s). */
  async close(): Promise<void> {
    await Promise.all(
      this.#workers.map(async (w) => {
        await Promise.race([w.request({ type: 'close' }).catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
        await w.terminate();
      }),
    );
  }
}
