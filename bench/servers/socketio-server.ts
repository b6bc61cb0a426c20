/**
 * The Socket.IO baseline, written the way the seed's NestJS EventsGateway and
 * WebSocketService were: namespace `/ws`, CORS open, JWT checked on connection,
 * `connected {message, clientId}`, a room per site (`site:<id>`) joined on
 * `subscribe:site`, and every update sent as `server.to(room).emit(event, data)`
 * from the service in the same process. JSON (Socket.IO's default parser).
 */
import { createServer } from 'node:http';
import { jwtVerify } from 'jose';
import { Server } from 'socket.io';
import { fatal, serveBench } from './child-ipc.ts';
import { Producer } from './producer.ts';

const secret = new TextEncoder().encode(process.env.HUB_JWT_SECRET ?? fatal('HUB_JWT_SECRET is not set'));
const http = createServer();
const io = new Server(http, { cors: { origin: '*', credentials: true } });
const nsp = io.of('/ws');

nsp.use((socket, next) => {
  const token = (socket.handshake.auth as { token?: unknown }).token;
  if (typeof token !== 'string') return next(new Error('unauthorized'));
  jwtVerify(token, secret, { algorithms: ['HS256'] }).then(
    ({ payload }) => {
      socket.data.userId = payload.sub;
      next();
    },
    () => next(new Error('unauthorized')),
  );
});

nsp.on('connection', (socket) => {
  void socket.join(`user:${String(socket.data.userId)}`);
  socket.emit('connected', { message: '连接成功', clientId: socket.id });
  socket.on('subscribe:site', (data: { siteId?: unknown } | undefined) => {
    void socket.join(`site:${String(data?.siteId)}`);
    socket.emit('subscribed', { siteId: data?.siteId, message: `已订阅站点 ${String(data?.siteId)}` });
  });
  socket.on('unsubscribe:site', (data: { siteId?: unknown } | undefined) => {
    void socket.leave(`site:${String(data?.siteId)}`);
    socket.emit('unsubscribed', { siteId: data?.siteId });
  });
  socket.on('ping', () => socket.emit('pong', { timestamp: Date.now() }));
});

const producer = new Producer({
  // WebSocketService.sendTaskUpdate(siteId, task): this.server.to(`site:${siteId}`).emit('task:update', task)
  emit: (name, event) => {
    nsp.to(`site:${event.siteId}`).emit(name, event);
  },
});

const port = await new Promise<number>((resolve) => http.listen(0, '127.0.0.1', () => resolve((http.address() as { port: number }).port)));
serveBench(port, {}, {
  produce: (plan) => producer.run(plan),
  stop: () => new Promise<void>((resolve) => io.close(() => resolve())),
});
