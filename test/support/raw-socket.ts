/** A bare `ws` socket speaking frames by hand, for what HubClient would never send. */
import { type ClientOptions, WebSocket } from 'ws';
import { AUTH_SUBPROTOCOL_PREFIX, decodeFrame, encodeFrame, type Frame, SUBPROTOCOL, type WireFormat } from '../../protocol/codec.ts';

export interface Closed {
  readonly code: number;
  readonly reason: string;
}

export class RawSocket {
  readonly ws: WebSocket;
  readonly frames: Frame[] = [];
  /** Resolves when the socket closes, with the close code and reason. */
  readonly closed: Promise<Closed>;
  #waiters: Array<() => void> = [];

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.frames.push(decodeFrame(isBinary ? data : data.toString('utf8'), isBinary));
      for (const w of [...this.#waiters]) w();
    });
    ws.on('error', () => {});
    this.closed = new Promise((resolve) => {
      ws.on('close', (code: number, reason: Buffer) => {
        resolve({ code, reason: reason.toString() });
        for (const w of [...this.#waiters]) w();
      });
    });
  }

  /**
   * Opens a socket; `token` goes in the auth subprotocol unless `protocols` is given.
   * Resolves once the socket is open (a refused socket opens, then closes with a code).
   */
  static open(url: string, options: { token?: string; format?: WireFormat; protocols?: string[]; ws?: ClientOptions } = {}): Promise<RawSocket> {
    const protocols = options.protocols ?? [SUBPROTOCOL[options.format ?? 'msgpack'], ...(options.token === undefined ? [] : [AUTH_SUBPROTOCOL_PREFIX + options.token])];
    const raw = new RawSocket(new WebSocket(url, protocols, options.ws));
    return new Promise((resolve, reject) => {
      raw.ws.once('open', () => resolve(raw));
      raw.ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade answered HTTP ${res.statusCode}`)));
      raw.ws.once('error', reject);
    });
  }

  /** Opens a socket and waits for the hub's `connected` frame. */
  static async connect(url: string, options: Parameters<typeof RawSocket.open>[1] = {}): Promise<RawSocket> {
    const raw = await RawSocket.open(url, options);
    await raw.next((f) => f[0] === 'connected');
    return raw;
  }

  /** Sends a frame encoded in `format` (default: msgpack as binary). */
  sendFrame(frame: Frame, format: WireFormat = 'msgpack'): void {
    const bytes = encodeFrame(format, frame);
    this.ws.send(bytes, { binary: typeof bytes !== 'string' });
  }

  /** Sends raw bytes (binary) or text. */
  sendRaw(data: Uint8Array | string): void {
    this.ws.send(data, { binary: typeof data !== 'string' });
  }

  /** The first frame received after `from` (an index into `frames`) that matches; rejects on close or timeout. */
  next(match: (f: Frame) => boolean = () => true, { from = 0, timeoutMs = 5000 } = {}): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.frames.slice(from).find(match);
        if (found !== undefined) {
          done();
          resolve(found);
        } else if (this.ws.readyState === WebSocket.CLOSED) {
          done();
          reject(new Error(`socket closed before the expected frame; got ${JSON.stringify(this.frames)}`));
        }
      };
      const done = () => {
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((w) => w !== check);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no expected frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames)}`));
      }, timeoutMs);
      this.#waiters.push(check);
      check();
    });
  }

  /** Sends a frame and resolves with the next frame the hub answers. */
  async exchange(frame: Frame | Uint8Array | string, format: WireFormat = 'msgpack'): Promise<Frame> {
    const from = this.frames.length;
    if (Array.isArray(frame)) this.sendFrame(frame as Frame, format);
    else this.sendRaw(frame as Uint8Array | string);
    return this.next(() => true, { from });
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  close(): void {
    this.ws.close(1000);
  }
}
