/**
 * A minimal WebSocket client (RFC 6455) over a TCP socket, for load generation:
 * it hands each message to the caller as a view of the bytes as they were read,
 * with one receipt timestamp per read, and copies only when a frame spans two
 * reads. A general-purpose client (ws) costs several microseconds per message,
 * which at hundreds of thousands of deliveries a second would make the load
 * generator, not the server, the thing being measured.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { monotonicUs } from '../clock.ts';

export interface RawWebSocketOptions {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  /** Offered subprotocols (`Sec-WebSocket-Protocol`). */
  readonly protocols: readonly string[];
  readonly timeoutMs: number;
}

export interface RawWebSocketHandlers {
  /** One complete message: `data[start, end)`. Valid only during the call. */
  onMessage(data: Buffer, start: number, end: number, isBinary: boolean, receivedAtUs: number): void;
  /** The connection ended: the server's close code, or 1006 when the TCP connection just went away. */
  onClose(code: number, reason: string): void;
}

/** The handshake failed: refused, timed out, or not a WebSocket server. */
export class HandshakeError extends Error {
  override readonly name = 'HandshakeError';
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const Op = { Continuation: 0, Text: 1, Binary: 2, Close: 8, Ping: 9, Pong: 10 } as const;
const HEADER_LIMIT = 16 * 1024;

/**
 * Every socket of a thread reads into this one buffer (Node's `onread`): no
 * Buffer is allocated per read and the stream machinery is bypassed. Safe because
 * each read is consumed before the next; a frame cut across reads is copied out.
 */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

export class RawWebSocket {
  readonly #socket: Socket;
  readonly #handlers: RawWebSocketHandlers;
  /** The subprotocol the server picked. */
  readonly protocol: string;
  #pending: Buffer | undefined;
  #fragments: Buffer[] | undefined;
  #fragmentBinary = false;
  #closed = false;

  private constructor(socket: Socket, protocol: string, handlers: RawWebSocketHandlers) {
    this.#socket = socket;
    this.protocol = protocol;
    this.#handlers = handlers;
  }

  /** Opens a connection; resolves once the server answered 101 Switching Protocols. */
  static connect(options: RawWebSocketOptions, handlers: RawWebSocketHandlers): Promise<RawWebSocket> {
    return new Promise((resolve, reject) => {
      const key = randomBytes(16).toString('base64');
      let ws: RawWebSocket | undefined;
      let head: Buffer = Buffer.alloc(0);
      let done = false;
      const socket = connect({
        host: options.host,
        port: options.port,
        noDelay: true,
        onread: {
          buffer: READ_BUFFER,
          callback: (nread: number, buf: Uint8Array) => {
            if (ws !== undefined) ws.#onData(buf as Buffer, nread);
            else onHead(Buffer.from(buf.subarray(0, nread)));
            return true;
          },
        },
      });
      const fail = (message: string) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        socket.destroy();
        reject(new HandshakeError(message));
      };
      const timer = setTimeout(() => fail(`no handshake answer within ${options.timeoutMs} ms`), options.timeoutMs);
      socket.once('error', (e) => fail(e.message));
      socket.once('close', () => fail('connection closed during the handshake'));
      socket.once('connect', () => {
        const lines = [
          `GET ${options.path} HTTP/1.1`,
          `Host: ${options.host}:${options.port}`,
          'Upgrade: websocket',
          'Connection: Upgrade',
          `Sec-WebSocket-Key: ${key}`,
          'Sec-WebSocket-Version: 13',
        ];
        if (options.protocols.length > 0) lines.push(`Sec-WebSocket-Protocol: ${options.protocols.join(', ')}`);
        socket.write(lines.join('\r\n') + '\r\n\r\n');
      });
      const onHead = (chunk: Buffer) => {
        if (done) return;
        head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > HEADER_LIMIT) fail('handshake answer too large');
          return;
        }
        const text = head.subarray(0, end).toString('latin1');
        const [status = '', ...headerLines] = text.split('\r\n');
        if (!/^HTTP\/1\.1 101 /.test(status)) return fail(`server answered "${status}" instead of 101`);
        const headers = new Map(headerLines.map((l) => [l.slice(0, l.indexOf(':')).trim().toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
        const accept = createHash('sha1').update(key + GUID).digest('base64');
        if (headers.get('sec-websocket-accept') !== accept) return fail('bad Sec-WebSocket-Accept');
        done = true;
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.removeAllListeners('close');
        const opened = new RawWebSocket(socket, headers.get('sec-websocket-protocol') ?? '', handlers);
        ws = opened;
        socket.on('error', () => opened.#ended(1006, 'socket error'));
        socket.on('close', () => opened.#ended(1006, 'connection lost'));
        resolve(opened);
        // Bytes after the handshake (the server's first frames) are already here.
        if (head.length > end + 4) {
          const rest = head.subarray(end + 4);
          opened.#onData(rest, rest.length);
        }
      };
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends one message (client frames are masked, as the protocol requires). */
  send(data: Uint8Array | string): void {
    if (this.#closed) return;
    const payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    this.#socket.write(frame(typeof data === 'string' ? Op.Text : Op.Binary, payload));
  }

  /** Stops reading from the socket: the server's sends pile up (a slow consumer). */
  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  /** Drops the TCP connection without a closing handshake, as a lost network would. */
  destroy(): void {
    this.#socket.destroy();
    this.#ended(1006, 'dropped by client');
  }

  /** Closes with the closing handshake. */
  close(code = 1000): void {
    if (this.#closed) return;
    const body = Buffer.alloc(2);
    body.writeUInt16BE(code, 0);
    this.#socket.end(frame(Op.Close, body));
    this.#ended(code, 'closed by client');
  }

  #ended(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#handlers.onClose(code, reason);
  }

  /** Parses the frames in `chunk[0, n)`; the chunk may be the shared read buffer, so nothing may keep a view of it. */
  #onData(chunk: Buffer, n: number): void {
    const now = monotonicUs();
    let buf = chunk;
    let len = n;
    if (this.#pending !== undefined) {
      buf = Buffer.concat([this.#pending, chunk.subarray(0, n)]);
      len = buf.length;
      this.#pending = undefined;
    }
    let pos = 0;
    while (pos + 2 <= len) {
      const b0 = buf[pos]!;
      const b1 = buf[pos + 1]!;
      let header = 2;
      let size = b1 & 0x7f;
      if (size === 126) {
        if (pos + 4 > len) break;
        size = buf.readUInt16BE(pos + 2);
        header = 4;
      } else if (size === 127) {
        if (pos + 10 > len) break;
        size = buf.readUInt32BE(pos + 2) * 4294967296 + buf.readUInt32BE(pos + 6);
        header = 10;
      }
      if ((b1 & 0x80) !== 0) header += 4; // servers do not mask; tolerate it by skipping the key
      const start = pos + header;
      const end = start + size;
      if (end > len) break;
      this.#frame(b0, buf, start, end, now);
      if (this.#closed) return;
      pos = end;
    }
    // Only a frame cut across two reads is copied (out of the shared buffer).
    if (pos < len) this.#pending = Buffer.from(buf.subarray(pos, len));
  }

  #frame(b0: number, buf: Buffer, start: number, end: number, now: number): void {
    const fin = (b0 & 0x80) !== 0;
    const op = b0 & 0x0f;
    if (op === Op.Binary || op === Op.Text) {
      if (fin) this.#handlers.onMessage(buf, start, end, op === Op.Binary, now);
      else {
        this.#fragments = [Buffer.from(buf.subarray(start, end))];
        this.#fragmentBinary = op === Op.Binary;
      }
    } else if (op === Op.Continuation) {
      if (this.#fragments === undefined) return;
      this.#fragments.push(Buffer.from(buf.subarray(start, end)));
      if (fin) {
        const whole = Buffer.concat(this.#fragments);
        this.#fragments = undefined;
        this.#handlers.onMessage(whole, 0, whole.length, this.#fragmentBinary, now);
      }
    } else if (op === Op.Ping) {
      this.#socket.write(frame(Op.Pong, buf.subarray(start, end)));
    } else if (op === Op.Close) {
      const code = end - start >= 2 ? buf.readUInt16BE(start) : 1005;
      const reason = end - start > 2 ? buf.toString('utf8', start + 2, end) : '';
      this.#socket.end(frame(Op.Close, buf.subarray(start, Math.min(end, start + 2))));
      this.#ended(code, reason);
    }
  }
}

/** A masked client frame. */
function frame(op: number, payload: Uint8Array): Buffer {
  const n = payload.length;
  const header = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(header + 4 + n);
  out[0] = 0x80 | op;
  if (n < 126) out[1] = 0x80 | n;
  else if (n < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(Math.floor(n / 4294967296), 2);
    out.writeUInt32BE(n >>> 0, 6);
  }
  const mask = (Math.random() * 4294967296) >>> 0;
  out.writeUInt32BE(mask, header);
  const m0 = mask >>> 24;
  const m1 = (mask >>> 16) & 0xff;
  const m2 = (mask >>> 8) & 0xff;
  const m3 = mask & 0xff;
  const keys = [m0, m1, m2, m3];
  for (let i = 0; i < n; i++) out[header + 4 + i] = payload[i]! ^ keys[i & 3]!;
  return out;
}
