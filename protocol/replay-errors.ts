/** What can go wrong replaying a log (`plant-realtime-hub/replay`). Browser-safe. */

/** The options ask for something the log cannot answer: an unknown event, a bad id, a bad bound. */
export class LogSelectionError extends Error {
  override readonly name = 'LogSelectionError';
}

/** Why a stored position cannot be continued from. */
export type PositionProblem = 'epoch' | 'stream' | 'expired' | 'invalid';

/**
 * A stored position does not fit the log: the stream was recreated since (`epoch`),
 * it belongs to another stream (`stream`), the events after it aged out of
 * retention (`expired`), or it is not a position at all (`invalid`). Continuing
 * anyway would skip or repeat events, so the reader refuses.
 */
export class LogPositionError extends Error {
  override readonly name = 'LogPositionError';
  constructor(
    readonly problem: PositionProblem,
    message: string,
  ) {
    super(message);
  }
}

/** The log could not be read (NATS down, stream deleted mid-read); `cause` is nats.js's error. */
export class LogReadError extends Error {
  override readonly name = 'LogReadError';
}
