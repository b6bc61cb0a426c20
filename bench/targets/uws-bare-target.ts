/** The ceiling: bare uWebSockets.js publishing pre-encoded frames, producer in-process. */
import { ChildServer } from '../child-server.ts';
import type { RunningTarget, TargetStartOptions } from './target.ts';

export async function startUwsBare(opts: TargetStartOptions): Promise<RunningTarget> {
  const server = await ChildServer.start({ entry: 'uws-bare-server.ts', env: {} });
  return {
    name: 'uws-bare',
    protocol: 'hub',
    host: '127.0.0.1',
    port: server.port,
    server,
    producer: undefined,
    natsPid: undefined,
    jwtSecret: 'uws-bare-checks-no-token',
    resumes: false,
    notes: ['no auth, no log, no per-socket state: producer publishes pre-encoded frames in-process'],
    produce: (plan) => server.produce(plan),
    stop: () => server.stop(),
  };
}
