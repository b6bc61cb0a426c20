/**
 * The child side of the bench's IPC: announces readiness (with the port it
 * listens on), answers `gc`, `produce` and `stop`, and exits if the bench goes
 * away, so no server is ever left behind.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import type { ChildMessage, ChildRequest, LoopDelay, ProducePlan, ProduceReport } from './produce-plan.ts';

export interface ChildHandlers {
  produce?(plan: ProducePlan): Promise<ProduceReport>;
  stop(): Promise<void>;
}

export function serveBench(port: number, info: Record<string, string>, handlers: ChildHandlers): void {
  const send = (m: ChildMessage) => process.send?.(m);
  if (process.send === undefined) throw new Error('this file runs as a bench child (with an IPC channel)');
  process.on('message', (req: ChildRequest) => {
    const reply = (p: Promise<unknown>) =>
      p.then(
        (result) => send({ type: 'reply', id: req.id, ok: true, result }),
        (e: Error) => send({ type: 'reply', id: req.id, ok: false, error: e.stack ?? String(e) }),
      );
    if (req.type === 'gc') {
      // Run with --expose-gc: collect before reading RSS, so garbage does not count as memory per connection.
      (globalThis as { gc?: () => void }).gc?.();
      void reply(Promise.resolve(process.memoryUsage()));
    } else if (req.type === 'produce') {
      void reply(handlers.produce === undefined ? Promise.reject(new Error('this child does not produce')) : handlers.produce(req.plan));
    } else if (req.type === 'profile-start') {
      void reply(profiler.start());
    } else if (req.type === 'profile-stop') {
      void reply(profiler.stop(req.path));
    } else if (req.type === 'loop-start') {
      loop?.disable();
      loop = monitorEventLoopDelay({ resolution: 5 });
      loop.enable();
      void reply(Promise.resolve(true));
    } else if (req.type === 'loop-stop') {
      const h = loop;
      loop = undefined;
      h?.disable();
      const ms = (ns: number) => Math.round(ns / 1e4) / 100;
      void reply(Promise.resolve(h === undefined ? undefined : ({ p50Ms: ms(h.percentile(50)), p99Ms: ms(h.percentile(99)), maxMs: ms(h.max) } satisfies LoopDelay)));
    } else if (req.type === 'stop') {
      void reply(handlers.stop()).finally(() => setTimeout(() => process.exit(0), 50));
    }
  });
  process.on('disconnect', () => {
    void handlers.stop().finally(() => process.exit(0));
    setTimeout(() => process.exit(1), 5000).unref();
  });
  send({ type: 'ready', port, info });
}

let loop: IntervalHistogram | undefined;

/** V8's CPU profiler in this process, driven by the bench around its measured windows. */
const profiler = {
  session: undefined as Session | undefined,
  async start(): Promise<boolean> {
    if (this.session !== undefined) return false;
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
    this.session = session;
    return true;
  },
  async stop(path: string): Promise<boolean> {
    const session = this.session;
    if (session === undefined) return false;
    this.session = undefined;
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    writeFileSync(path, JSON.stringify(profile));
    return true;
  },
};

export function fatal(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(3);
}
