/**
 * A streamed HTTP answer on uWS with backpressure: each write waits while uWS
 * holds unsent bytes, so a client that reads slowly slows the export and one
 * that stops reading holds no more than one chunk. A client that takes nothing
 * for `stallMs` is cut off (an abandoned export must not keep its reader).
 */
import type { HttpResponse } from 'uWebSockets.js';
import { type Exchange, writeHead } from './http-io.ts';

/** Bigger chunks are written in slices of this, each waiting for the last to drain. */
const SLICE_BYTES = 256 * 1024;

export class ResponseSink {
  readonly #res: HttpResponse;
  readonly #exchange: Exchange;
  readonly #contentType: string;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #stallMs: number;
  readonly #onGone: () => void;
  #started = false;
  #ended = false;
  #stalled = false;
  /** Resolves the write waiting for drain. */
  #writable: (() => void) | undefined;
  #writableHandler = false;

  /** `onGone` runs once if the client leaves or is cut off (to stop what feeds the sink). */
  constructor(res: HttpResponse, exchange: Exchange, contentType: string, headers: Readonly<Record<string, string>>, stallMs: number, onGone: () => void) {
    this.#res = res;
    this.#exchange = exchange;
    this.#contentType = contentType;
    this.#headers = headers;
    this.#stallMs = stallMs;
    this.#onGone = onGone;
    exchange.onAbort = onGone;
  }

  get started(): boolean {
    return this.#started;
  }

  /** The client left, or was cut off: stop producing. */
  get gone(): boolean {
    return this.#exchange.aborted;
  }

  get stalled(): boolean {
    return this.#stalled;
  }

  /** Writes a chunk; resolves once uWS can take more (false if the client is gone). */
  async write(chunk: string | Uint8Array): Promise<boolean> {
    if (typeof chunk !== 'string' && chunk.length > SLICE_BYTES) {
      for (let at = 0; at < chunk.length; at += SLICE_BYTES) if (!(await this.write(chunk.subarray(at, at + SLICE_BYTES)))) return false;
      return true;
    }
    if (this.gone) return false;
    if (chunk.length === 0 && this.#started) return true;
    let ok = true;
    this.#res.cork(() => {
      this.#head();
      if (chunk.length > 0) ok = this.#res.write(chunk);
    });
    return ok ? true : this.#drained();
  }

  /** Ends the answer (headers too, if nothing was written). */
  end(): void {
    if (this.gone || this.#ended) return;
    this.#ended = true;
    this.#res.cork(() => {
      this.#head();
      this.#res.end();
    });
  }

  /** Mid-stream failure: cut the connection, so the client sees a truncated transfer, not a short but valid one. */
  cut(): void {
    if (this.gone || this.#ended) return;
    this.#exchange.aborted = true;
    this.#res.close();
    this.#onGone();
  }

  #head(): void {
    if (this.#started) return;
    this.#started = true;
    writeHead(this.#res, 200, this.#contentType, this.#exchange);
    for (const [name, value] of Object.entries(this.#headers)) this.#res.writeHeader(name, value);
  }

  #drained(): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.#stalled = true;
        this.cut();
        resolve(false);
      }, this.#stallMs);
      this.#exchange.onAbort = () => {
        clearTimeout(timer);
        this.#writable = undefined;
        this.#onGone();
        resolve(false);
      };
      this.#writable = () => {
        clearTimeout(timer);
        this.#exchange.onAbort = this.#onGone;
        resolve(true);
      };
      // One handler per response, registered once: this uWS build keeps calling the first handler it was given.
      if (!this.#writableHandler) {
        this.#writableHandler = true;
        this.#res.onWritable(() => {
          const writable = this.#writable;
          this.#writable = undefined;
          writable?.();
          return true;
        });
      }
    });
  }
}
