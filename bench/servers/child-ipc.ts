/**
 * The child side of the bench's IPC: announces readiness (with the port it
 * listens on), answers `gc`, `produce` and `stop`, and exits if the bench goes
 * away, so no server is ever left behind.
 */
import type { ChildMessage, ChildRequest, ProducePlan, ProduceReport } from './produce-plan.ts';

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
      void reply(Promise.resolve(true));
    } else if (req.type === 'produce') {
      void reply(handlers.produce === undefined ? Promise.reject(new Error('this child does not produce')) : handlers.produce(req.plan));
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

export function fatal(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(3);
}
