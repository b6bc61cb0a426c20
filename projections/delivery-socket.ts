/**
 * A replay's deliveries read straight off a NATS socket of their own. nats.js
 * spends ~3 µs of CPU per message in its parser and message objects (split
 * arguments, subject and reply strings); a rebuild reads every event of the log,
 * and that was most of the reader thread's time, as much as the whole fold. This
 * reads the one thing a replay receives, deliveries to its inbox, from the bytes:
 * the position from the ack subject's digits, the payload copied once, straight
 * into the chunk being packed; nothing per message but a subject string lookup.
 *
 * Only the plain protocol: `nats://` (user and password or a token in the URL),
 * no TLS, no nkeys or JWTs. `open` rejects with `DeliverySocketUnsupported` for
 * anything else, and the replay reads through nats.js instead. Consumer
 * management (create, delete, the watchdog's info) stays on nats.js.
 */
import { connect, type Socket } from 'node:net';

/** What one delivery says; `payload` is valid until the callback returns. */
export interface DeliveryHandler {
  delivery(seq: number, consumerSeq: number, ts: number, pending: number, subject: string, payload: Buffer, start: number, end: number): void;
  /** A message on the inbox that is no delivery (a status: 404, 408, 409, …). */
  status(line: string): void;
  /** The end of a socket read: every delivery it held has been handed over. */
  read(): void;
  /** The socket failed or closed. */
  ended(message: string): void;
}

/** This server or URL needs what the plain reader does not speak (TLS, nkeys, another scheme). */
export class DeliverySocketUnsupported extends Error {
  override readonly name = 'DeliverySocketUnsupported';
}

const CR = 13;
const SPACE = 32;
const DOT = 46;
const HANDSHAKE_MS = 5000;
const SID = 1;

export class DeliverySocket {
  readonly #socket: Socket;
  readonly #handler: DeliveryHandler;
  readonly #inbox: string;
  readonly #args: number[] = new Array<number>(12).fill(0);
  readonly #dots: number[] = new Array<number>(12).fill(0);
  /** The start of a frame the last read ended in. */
  #rest: Buffer | undefined;
  #ended = false;

  private constructor(socket: Socket, inbox: string, handler: DeliveryHandler, rest: Buffer | undefined) {
    this.#socket = socket;
    this.#rest = rest;
    this.#inbox = inbox;
    this.#handler = handler;
  }

  /**
   * Connects to the first server of `servers` that answers, subscribes to `inbox`.
   * @example
   * const socket = await DeliverySocket.open(['nats://127.0.0.1:4222'], 'replay-x', inbox, handler);
   * socket.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`, '{"batch":10000}');
   */
  static async open(servers: readonly string[], name: string, inbox: string, handler: DeliveryHandler): Promise<DeliverySocket> {
    let last: Error | undefined;
    for (const server of servers) {
      const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(server) ? server : `nats://${server}`);
      if (url.protocol !== 'nats:') throw new DeliverySocketUnsupported(`${url.protocol} is not plain NATS`);
      try {
        // Attached in the same turn as the handshake resolves: no read can come between.
        const { socket, rest } = await handshake(url, name);
        const reader = new DeliverySocket(socket, inbox, handler, rest);
        socket.on('data', (data: Buffer) => reader.#data(data));
        socket.on('error', (e) => reader.#end(`the replay's socket failed: ${e.message}`));
        socket.on('close', () => reader.#end("the replay's socket closed"));
        socket.write(`SUB ${inbox} ${SID}\r\n`);
        return reader;
      } catch (e) {
        if (e instanceof DeliverySocketUnsupported) throw e;
        last = e as Error;
      }
    }
    throw last ?? new Error('no NATS server given');
  }

  /** Publishes `data` with the inbox as its reply subject (a pull request). */
  publish(subject: string, data: string): void {
    this.#socket.write(`PUB ${subject} ${this.#inbox} ${Buffer.byteLength(data)}\r\n${data}\r\n`);
  }

  close(): void {
    this.#ended = true;
    this.#socket.destroy();
  }

  #end(message: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#handler.ended(message);
  }

  #data(data: Buffer): void {
    if (this.#ended) return;
    // A frame spanning two reads is the only copy: the rest of the last read, then this one.
    const buf = this.#rest === undefined ? data : Buffer.concat([this.#rest, data]);
    this.#rest = undefined;
    let at = 0;
    try {
      while (at < buf.length) {
        const next = this.#frame(buf, at);
        if (next < 0) break;
        at = next;
      }
    } catch (e) {
      this.#end((e as Error).message);
      this.close();
      return;
    }
    if (at < buf.length) this.#rest = buf.subarray(at);
    this.#handler.read();
  }

  /** Handles the frame at `at`; returns where the next one starts, or -1 if it is not all there yet. */
  #frame(buf: Buffer, at: number): number {
    const eol = buf.indexOf(CR, at);
    if (eol < 0 || eol + 1 >= buf.length) return -1;
    const op = buf[at]!;
    if (op === 72 /* H */ || op === 77 /* M */) {
      // HMSG <subject> <sid> [reply] <header bytes> <total bytes> | MSG <subject> <sid> [reply] <bytes>:
      // argument bounds in a reused array, no string made but the subject's.
      const args = this.#args;
      let n = 0;
      for (let start = buf.indexOf(SPACE, at) + 1; start > 0 && start < eol && n < 12; ) {
        let end = buf.indexOf(SPACE, start);
        if (end < 0 || end > eol) end = eol;
        if (end > start) {
          args[n++] = start;
          args[n++] = end;
        }
        start = end + 1;
      }
      const headers = op === 72;
      const count = n / 2;
      const total = digits(buf, args[n - 2]!, args[n - 1]!);
      const headerBytes = headers ? digits(buf, args[n - 4]!, args[n - 3]!) : 0;
      const body = eol + 2;
      if (body + total + 2 > buf.length) return -1;
      if (count !== (headers ? 5 : 4)) this.#handler.status(buf.toString('latin1', body, body + headerBytes).split('\r\n')[0] ?? '');
      else this.#delivery(buf, args[0]!, args[1]!, args[4]!, args[5]!, body + headerBytes, body + total);
      return body + total + 2;
    }
    const line = buf.toString('latin1', at, eol);
    if (line === 'PING') this.#socket.write('PONG\r\n');
    else if (line.startsWith('-ERR')) throw new Error(`NATS refused the replay: ${line.slice(5)}`);
    // INFO updates, PONG, +OK: nothing to do.
    return eol + 2;
  }

  #delivery(buf: Buffer, subjectStart: number, subjectEnd: number, replyStart: number, replyEnd: number, start: number, end: number): void {
    // `$JS.ACK.<stream>.<consumer>.<delivered>.<seq>.<cseq>.<ns>.<pending>`, or with domain and account
    // before the stream and `.<random>` after (12 tokens): the four numbers are read from the end.
    const dots = this.#dots;
    let n = 0;
    for (let i = buf.indexOf(DOT, replyStart); i >= 0 && i < replyEnd && n < 12; i = buf.indexOf(DOT, i + 1)) dots[n++] = i;
    if (n < 8 || n > 11 || buf[replyStart] !== 36 /* $ */) {
      this.#handler.status(`an unexpected reply subject ${buf.toString('latin1', replyStart, replyEnd)}`);
      return;
    }
    let last = n - 1;
    let stop = replyEnd;
    if (n > 10) {
      stop = dots[last]!;
      last--;
    }
    const pending = digits(buf, dots[last]! + 1, stop);
    // The log time goes through Number() as nats.js's does, so both paths agree to the millisecond.
    const ts = Math.floor(Number(buf.toString('latin1', dots[last - 1]! + 1, dots[last]!)) / 1e6);
    const consumerSeq = digits(buf, dots[last - 2]! + 1, dots[last - 1]!);
    const seq = digits(buf, dots[last - 3]! + 1, dots[last - 2]!);
    this.#handler.delivery(seq, consumerSeq, ts, pending, buf.toString('latin1', subjectStart, subjectEnd), buf, start, end);
  }
}

/** A decimal number from ASCII digits (sequences and counts: exact below 2^53). */
function digits(buf: Buffer, start: number, end: number): number {
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) throw new Error(`NATS sent a malformed number: ${buf.toString('latin1', start, end)}`);
    n = n * 10 + d;
  }
  return n;
}

/** INFO, then CONNECT and PING; resolves once the server's PONG says it took the connection. */
function handshake(url: URL, name: string): Promise<{ socket: Socket; rest: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 4222) });
    socket.setNoDelay(true);
    let received = '';
    const timer = setTimeout(() => fail(new Error(`NATS at ${url.host} did not answer within ${HANDSHAKE_MS} ms`)), HANDSHAKE_MS);
    const fail = (e: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    };
    const onData = (data: Buffer) => {
      received += data.toString('latin1');
      for (let eol = received.indexOf('\r\n'); eol >= 0; eol = received.indexOf('\r\n')) {
        const line = received.slice(0, eol);
        received = received.slice(eol + 2);
        if (line.startsWith('INFO ')) {
          const info = JSON.parse(line.slice(5)) as { tls_required?: boolean; nonce?: string; headers?: boolean };
          if (info.tls_required === true) return fail(new DeliverySocketUnsupported('the server requires TLS'));
          if (info.headers !== true) return fail(new DeliverySocketUnsupported('the server does not support headers'));
          const user = decodeURIComponent(url.username);
          const pass = decodeURIComponent(url.password);
          // A nonce with no user in the URL: nkey or JWT authentication, which only nats.js speaks.
          if (info.nonce !== undefined && user === '') return fail(new DeliverySocketUnsupported('the server asks for nkey or JWT authentication'));
          const auth = user === '' ? {} : pass === '' ? { auth_token: user } : { user, pass };
          socket.write(`CONNECT ${JSON.stringify({ verbose: false, pedantic: false, headers: true, no_responders: true, protocol: 1, lang: 'nodejs', version: 'replay', name, ...auth })}\r\nPING\r\n`);
        } else if (line === 'PONG') {
          clearTimeout(timer);
          socket.off('data', onData);
          socket.off('error', fail);
          socket.off('close', onClose);
          return resolve({ socket, rest: received.length > 0 ? Buffer.from(received, 'latin1') : undefined });
        } else if (line.startsWith('-ERR')) return fail(new Error(`NATS refused the connection: ${line.slice(5)}`));
        else if (line === 'PING') socket.write('PONG\r\n');
      }
    };
    const onClose = () => fail(new Error(`NATS at ${url.host} closed the connection`));
    socket.on('data', onData);
    socket.on('error', fail);
    socket.on('close', onClose);
  });
}
