/**
 * A process the bench runs (a server under test, or the hub's producer): started
 * with node + tsx and an IPC channel, its file-descriptor limit raised, its CPU
 * and memory read from /proc, stopped cleanly (then killed if it hangs).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChildMessage, ChildRequest, ChildRequestBody, LoopDelay, ProducePlan, ProduceReport } from './servers/produce-plan.ts';
import { processCpuUs, processRssBytes } from './proc-stats.ts';

/** A child that would not start or answer; the message carries the end of its stderr. */
export class ChildServerError extends Error {
  override readonly name = 'ChildServerError';
}

export interface ChildServerOptions {
  /** File under bench/servers/. */
  readonly entry: string;
  readonly env: Readonly<Record<string, string>>;
  /** Node and V8 flags the process runs with (as its production start command would), before the bench's own. */
  readonly nodeFlags?: readonly string[];
  readonly startTimeoutMs?: number;
}

/** Enough descriptors for 25 k sockets and then some. */
export const NOFILE_LIMIT = 65_536;

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export class ChildServer {
  readonly pid: number;
  readonly port: number;
  readonly info: Readonly<Record<string, string>>;
  readonly #child: ChildProcess;
  readonly #stderr: string[];
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  #nextId = 1;

  private constructor(child: ChildProcess, port: number, info: Record<string, string>, stderr: string[]) {
    this.#child = child;
    this.pid = child.pid!;
    this.port = port;
    this.info = info;
    this.#stderr = stderr;
    child.on('message', (m: ChildMessage) => {
      if (m.type !== 'reply') return;
      const p = this.#pending.get(m.id);
      this.#pending.delete(m.id);
      if (m.ok) p?.resolve(m.result);
      else p?.reject(new ChildServerError(`${label(this)}: ${m.error?.split('\n')[0]}`, { cause: m.error }));
    });
    // A send to a child that just died reports through the callback; this only keeps it from crashing the bench.
    child.on('error', () => {});
    child.on('exit', (code, signal) => {
      const e = new ChildServerError(`${label(this)} exited (${code ?? signal}); stderr: ${this.stderrTail()}`);
      for (const p of this.#pending.values()) p.reject(e);
      this.#pending.clear();
    });
  }

  static start(opts: ChildServerOptions): Promise<ChildServer> {
    const file = fileURLToPath(new URL(`./servers/${opts.entry}`, import.meta.url));
    const args = [...(opts.nodeFlags ?? []), '--expose-gc', '--import', 'tsx', file];
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    raiseFileLimit(child.pid);
    const stderr: string[] = [];
    const keep = (chunk: Buffer) => {
      stderr.push(chunk.toString());
      if (stderr.length > 50) stderr.shift();
    };
    child.stderr!.on('data', keep);
    // Servers log to stdout (pino); kept with stderr so a failure shows its last words.
    child.stdout!.on('data', keep);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new ChildServerError(`${opts.entry} did not start within ${opts.startTimeoutMs ?? 30_000} ms; output: ${stderr.join('').slice(-2000)}`));
      }, opts.startTimeoutMs ?? 30_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new ChildServerError(`${opts.entry} exited (${code}) before it was ready: ${stderr.join('').slice(-2000)}`));
      });
      child.on('message', (m: ChildMessage) => {
        if (m.type !== 'ready') return;
        clearTimeout(timer);
        child.removeAllListeners('exit');
        const server = new ChildServer(child, m.port, { entry: opts.entry, ...m.info }, stderr);
        resolve(server);
      });
    });
  }

  cpuUs(): number | null {
    return processCpuUs(this.pid);
  }

  rssBytes(): number | null {
    return processRssBytes(this.pid);
  }

  /** Collects garbage in the child (twice, a moment apart, so freed pages go back); returns its V8 heap figures. */
  async gc(): Promise<NodeJS.MemoryUsage> {
    await this.#request({ type: 'gc' });
    await new Promise((r) => setTimeout(r, 200));
    const usage = (await this.#request({ type: 'gc' })) as NodeJS.MemoryUsage;
    await new Promise((r) => setTimeout(r, 200));
    return usage;
  }

  loopStart(): Promise<unknown> {
    return this.#request({ type: 'loop-start' });
  }

  loopStop(): Promise<LoopDelay | undefined> {
    return this.#request({ type: 'loop-stop' }) as Promise<LoopDelay | undefined>;
  }

  profileStart(): Promise<unknown> {
    return this.#request({ type: 'profile-start' });
  }

  profileStop(path: string): Promise<unknown> {
    return this.#request({ type: 'profile-stop', path });
  }

  produce(plan: ProducePlan): Promise<ProduceReport> {
    return this.#request({ type: 'produce', plan }) as Promise<ProduceReport>;
  }

  stderrTail(): string {
    return this.#stderr.join('').slice(-2000);
  }

  /** Asks the child to stop (it writes its CPU profile then), killing it after 10 s. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = new Promise((r) => this.#child.once('exit', r));
    this.#request({ type: 'stop' }).catch(() => {});
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  #request(req: ChildRequestBody): Promise<unknown> {
    if (!this.#child.connected) return Promise.reject(new ChildServerError(`${label(this)} is gone (exit ${this.#child.exitCode ?? this.#child.signalCode}); output: ${this.stderrTail()}`));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#child.send({ ...req, id } as ChildRequest, (e) => {
        if (e === null || e === undefined) return;
        this.#pending.delete(id);
        reject(new ChildServerError(`${label(this)}: ${e.message}; output: ${this.stderrTail()}`));
      });
    });
  }
}

function label(s: ChildServer): string {
  return s.info.entry ?? 'child';
}

/** Raises a process's open-file limit (root may; elsewhere the default stays and the error will say so). */
export function raiseFileLimit(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    execFileSync('prlimit', ['--pid', String(pid), `--nofile=${NOFILE_LIMIT}:${NOFILE_LIMIT}`], { stdio: 'ignore' });
  } catch {
    // Not root, or no prlimit: large runs may hit EMFILE, which the connect report shows.
  }
}
