/**
 * The one registry of wire error codes (in `error` frames) and WebSocket close
 * codes. Documented in docs/protocol.md; never reuse a number for another meaning.
 */

/** Codes carried by `["error", {code, message}]` frames. The connection stays open. */
export const ErrorCode = {
  /** The frame could not be decoded, or is not `[op, args?, ref?]`. */
  BadFrame: 100,
  /** The frame is larger than the hub's maximum frame size. */
  FrameTooLarge: 101,
  /** The operation name is not one the hub knows. */
  UnknownOp: 102,
  /** The operation's arguments have the wrong shape or type. */
  BadArguments: 103,
  /** The token does not grant what was asked (e.g. a site outside `sites`, or a role that may not ack alarms). */
  Forbidden: 200,
  /** A refreshed token is invalid (the session keeps its current token until it expires). */
  BadToken: 201,
  /** Over a limit: too many operations per second, or too many subscriptions on one connection. */
  LimitExceeded: 300,
  /** The hub could not do it now (e.g. NATS unreachable); retrying later may work. */
  Unavailable: 503,
  /** An unexpected hub failure; logged on the hub with the same id. */
  Internal: 500,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** WebSocket close codes the hub uses (4000-4999 is the application range). */
export const CloseCode = {
  Normal: 1000,
  /** The client kept sending frames the hub cannot accept. */
  ProtocolViolation: 4400,
  /** No token, a bad signature, a wrong audience or issuer, an expired token, alg none. */
  Unauthorized: 4401,
  /** The session's token expired while connected. */
  TokenExpired: 4402,
  /** The browser origin is not in `HUB_ALLOWED_ORIGINS`. */
  ForbiddenOrigin: 4403,
  /** Nothing received (not even a ping) within the idle timeout. */
  IdleTimeout: 4408,
  /** The user already has the maximum number of connections. */
  TooManyConnections: 4429,
  /** Too many new connections from this address per second; retry after a pause. */
  RateLimited: 4430,
  /**
   * The socket could not take critical traffic (its send buffer is full, or too many
   * critical events wait for an ack). Reconnect and resume: nothing is lost.
   */
  SlowConsumer: 4509,
  /** The hub is starting (not connected to NATS yet) or stopping; reconnect (to another hub) and resume. */
  HubUnavailable: 4503,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** An error a hub reported, on the wire or as a close. */
export class HubError extends Error {
  override readonly name: string = 'HubError';
  constructor(
    readonly code: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * A request whose connection closed before the hub answered it: nothing was refused, and HubClient asks
 * again after reconnecting (`code` is the close code).
 */
export class ConnectionClosedError extends HubError {
  override readonly name = 'ConnectionClosedError';
}

/** An event or its target failed validation before it was appended. */
export class InvalidEventError extends Error {
  override readonly name = 'InvalidEventError';
}
