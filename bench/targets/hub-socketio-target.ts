/**
 * The hub's Socket.IO face (issue 9): the hub server and its HubPublisher
 * producer exactly as the `hub` target starts them, with clients speaking
 * Socket.IO as the seed's front-ends do (socket.io-client to `/ws` on the hub's
 * own port). Same server, other wire: set beside `hub` and `socketio` it prices
 * the face against the native protocol and against the seed's gateway.
 */
import { startHub } from './hub-target.ts';
import type { RunningTarget, TargetStartOptions } from './target.ts';

export async function startHubSocketIo(opts: TargetStartOptions): Promise<RunningTarget> {
  const hub = await startHub(opts);
  return {
    ...hub,
    name: 'hub-socketio',
    protocol: 'socketio',
    // After an outage a client reconnects its socket.io-client Socket, which asks for connection state recovery.
    resumes: hub.resumes,
    notes: [...hub.notes, 'clients speak Socket.IO (websocket transport only) to the hub\'s Socket.IO face'],
  };
}
