/**
 * The ceiling: uWebSockets.js with no hub logic. Sockets join `site/<id>` when
 * they ask, and the producer (in this process, as the seed's service was in its
 * server) encodes each event's frame once and publishes the bytes to the topic.
 * It answers the hub's frames (`connected`, `subscribe:site`, `ping`), so the
 * same bench clients drive it, and its frames carry offsets like the hub's.
 */
import type { us_listen_socket, WebSocket } from 'uWebSockets.js';
import { decodeFrame, encodeEventFrame, encodeFrame, encodePayload, SUBPROTOCOL } from '../../protocol/codec.ts';
import { uws, uwsRuntime } from '../../hub/uws.ts';
import { fatal, serveBench } from './child-ipc.ts';
import { Producer } from './producer.ts';

if (uwsRuntime === 'fallback') fatal('uWebSockets.js runs its ws fallback, not the native binary: the bench refuses to measure it');

interface Data {
  readonly id: number;
}
let nextId = 0;
let offset = 0;
const app = uws.App();
app.ws<Data>('/ws', {
  // The hub's own limits, so both fan out under the same backpressure policy.
  maxPayloadLength: 256 * 1024,
  maxBackpressure: 4 * 1024 * 1024,
  idleTimeout: 0,
  sendPingsAutomatically: false,
  upgrade: (res, req, context) => {
    const offered = req.getHeader('sec-websocket-protocol');
    res.upgrade<Data>({ id: ++nextId }, req.getHeader('sec-websocket-key'), offered.includes(SUBPROTOCOL.msgpack) ? SUBPROTOCOL.msgpack : '', req.getHeader('sec-websocket-extensions'), context);
  },
  open: (ws) => {
    ws.send(encodeFrame('msgpack', ['connected', { message: 'connected', clientId: String(ws.getUserData().id) }]) as Uint8Array, true);
  },
  message: (ws, message, isBinary) => onMessage(ws, message, isBinary),
});

function onMessage(ws: WebSocket<Data>, message: ArrayBuffer, isBinary: boolean): void {
  let frame;
  try {
    frame = decodeFrame(message, isBinary);
  } catch {
    return;
  }
  const [op, args, ref] = frame;
  const meta = ref === undefined ? undefined : { ref };
  if (op === 'subscribe:site') {
    const siteId = (args as { siteId?: unknown } | undefined)?.siteId;
    ws.subscribe(`site/${String(siteId)}`);
    ws.send(encodeFrame('msgpack', ['subscribed', { siteId }, meta]) as Uint8Array, true);
  } else if (op === 'ping') ws.send(encodeFrame('msgpack', ['pong', { timestamp: Date.now() }, meta]) as Uint8Array, true);
}

const producer = new Producer({
  emit: (name, event) => {
    // Encoded once per event, the same frame layout the hub sends; uWS copies the bytes to every subscriber.
    const frame = encodeEventFrame('msgpack', name, encodePayload(event), { offset: ++offset, ts: Date.now(), stream: 'site', epoch: 'bare' }) as Uint8Array;
    app.publish(`site/${event.siteId}`, frame, true);
  },
});

const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
  app.listen('127.0.0.1', 0, (socket) => (socket === false ? reject(new Error('uws-bare: cannot listen')) : resolve(socket)));
});
const port = uws.us_socket_local_port(listenSocket as unknown as Parameters<typeof uws.us_socket_local_port>[0]);
serveBench(port, { uws: uwsRuntime }, { produce: (plan) => producer.run(plan), stop: async () => uws.us_listen_socket_close(listenSocket) });
