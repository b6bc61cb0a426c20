/** The Socket.IO baseline: the seed's gateway and service in one process. */
import { randomBytes } from 'node:crypto';
import { ChildServer } from '../child-server.ts';
import type { RunningTarget, TargetStartOptions } from './target.ts';

export async function startSocketIo(opts: TargetStartOptions): Promise<RunningTarget> {
  const jwtSecret = randomBytes(32).toString('base64url');
  const server = await ChildServer.start({ entry: 'socketio-server.ts', env: { HUB_JWT_SECRET: jwtSecret } });
  return {
    name: 'socketio',
    protocol: 'socketio',
    host: '127.0.0.1',
    port: server.port,
    server,
    producer: undefined,
    natsPid: undefined,
    jwtSecret,
    resumes: false,
    notes: ['producer runs inside the server (the seed\'s WebSocketService); clients use the websocket transport only'],
    produce: (plan) => server.produce(plan),
    stop: () => server.stop(),
  };
}
