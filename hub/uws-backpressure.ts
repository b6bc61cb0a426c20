/**
 * uWS's own send-buffer limit (`maxBackpressure`, with `closeOnBackpressureLimit`), far above the hub's hard
 * limit, and how the hub stays ahead of it.
 *
 * Past it uWS skips the send and shuts the socket's read side (uWebSockets v20.44, WebSocket.h `send()`); the
 * close that follows reaches the close handler as 1006 with no reason, which is also what a client that just
 * vanished gives, and the socket can no longer be asked its buffer there (uWS.js throws). The hub cannot tell
 * that close apart, count it or give the client 4509, so it must not happen: every socket is looked at again
 * before topic traffic could carry one from the hard limit to uWS's limit (`overrunLookBytes`).
 */

/** uWS's limit: the hard limit plus the hard limit again, at least 16 MiB more. */
export function uwsBackpressureLimit(hardLimitBytes: number): number {
  return hardLimitBytes + Math.max(hardLimitBytes, 16 * 1024 * 1024);
}

/**
 * Topic bytes after which every socket past the hard limit is closed at once, not at the next 100 ms check:
 * half the room between the two limits. The other half is the margin for what the topic byte count misses
 * (replies, resent latest values, frames the write coalescing still held at the last look).
 */
export function overrunLookBytes(hardLimitBytes: number): number {
  return (uwsBackpressureLimit(hardLimitBytes) - hardLimitBytes) / 2;
}

/**
 * The topic bytes since every socket was last held to its hard limit, and whether that calls for a look now
 * (`overrunLookBytes`): one count for each face that publishes to topics (the native gateway, Socket.IO).
 */
export class OverrunLook {
  readonly #dueBytes: number;
  #since = 0;

  constructor(hardLimitBytes: number) {
    this.#dueBytes = overrunLookBytes(hardLimitBytes);
  }

  /** `bytes` went out through topics: true when every socket past the hard limit must be looked at now. */
  published(bytes: number): boolean {
    if ((this.#since += bytes) <= this.#dueBytes) return false;
    this.#since = 0;
    return true;
  }

  /** Every socket was just held to its hard limit (a full check): the count starts again. */
  looked(): void {
    this.#since = 0;
  }
}
