/** Small helpers for uWS HTTP responses: bounded body reads and JSON answers. */
import type { HttpResponse } from 'uWebSockets.js';

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
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

/** Watches for the client going away; check `.aborted` before answering after an await. */
export function watchAborted(res: HttpResponse): { aborted: boolean } {
  const state = { aborted: false };
  res.onAborted(() => {
    state.aborted = true;
  });
  return state;
}

/** Answers with a JSON body, unless the client went away (`aborted`). */
export function sendJson(res: HttpResponse, status: number, body: unknown, aborted = false): void {
  if (aborted) return;
  res.cork(() => {
    res.writeStatus(STATUS_TEXT[status] ?? String(status)).writeHeader('content-type', 'application/json').writeHeader('cache-control', 'no-store').end(JSON.stringify(body));
  });
}
