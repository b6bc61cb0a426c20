/** Small helpers for uWS HTTP responses: bounded body reads, and answers with the headers every route's carry. */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { corsOrigin, writeCorsHeaders } from './cors.ts';

export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
}

/**
 * Reads the request body, copying each chunk (uWS reuses its buffer), and fails
 * as soon as it passes `limit` bytes. The caller must have registered onAborted.
 */
export function readBody(res: HttpResponse, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    res.onData((chunk, isLast) => {
      if (failed) return;
      size += chunk.byteLength;
      if (size > limit) {
        failed = true;
        reject(new BodyTooLargeError(`body larger than ${limit} bytes`));
        return;
      }
      chunks.push(Buffer.from(chunk.slice(0)));
      if (isLast) resolve(Buffer.concat(chunks));
    });
  });
}

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  201: '201 Created',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  413: '413 Payload Too Large',
  415: '415 Unsupported Media Type',
  422: '422 Unprocessable Entity',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

/** What a route keeps of its request past the first await (uWS invalidates `req`). */
export interface Exchange {
  /** The client went away: check before answering after an await. */
  aborted: boolean;
  /** The origin the answer's CORS header names, if any (see cors.ts). */
  readonly allowOrigin: string | undefined;
  /** Called when the client goes away (e.g. to wake a write waiting for drain). */
  onAbort?: () => void;
}

/** Starts answering a request: copies its origin and watches for the client going away. Call before any await. */
export function beginExchange(res: HttpResponse, req: HttpRequest, allowedOrigins: readonly string[]): Exchange {
  const exchange: Exchange = { aborted: false, allowOrigin: corsOrigin(allowedOrigins, req.getHeader('origin')) };
  res.onAborted(() => {
    exchange.aborted = true;
    exchange.onAbort?.();
  });
  return exchange;
}

/** Writes the status line and the headers every answer carries (type, no caching, CORS); the body follows. Inside a cork. */
export function writeHead(res: HttpResponse, status: number, contentType: string, exchange: Exchange): HttpResponse {
  res.writeStatus(STATUS_TEXT[status] ?? String(status)).writeHeader('content-type', contentType).writeHeader('cache-control', 'no-store');
  writeCorsHeaders(res, exchange.allowOrigin);
  return res;
}

/** Answers with a JSON body, unless the client went away. */
export function sendJson(res: HttpResponse, status: number, body: unknown, exchange: Exchange): void {
  if (exchange.aborted) return;
  res.cork(() => writeHead(res, status, 'application/json', exchange).end(JSON.stringify(body)));
}
