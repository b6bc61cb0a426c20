/**
 * Client operations: `[op, args?, ref?]` in, a reply frame carrying `{ref}` out.
 * Site ids in a frame never widen what the token grants.
 */
import type { Frame } from '../protocol/codec.ts';
import { ErrorCode } from '../protocol/errors.ts';
import { idToken } from '../protocol/subjects.ts';
import { grantsSite } from './grant.ts';
import type { PresenceTracker } from './presence-tracker.ts';
import type { Session } from './session.ts';

/** A refused operation; becomes an `error` frame, the connection stays open. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

type Handler = (session: Session, args: unknown) => readonly [name: string, data: unknown];

export class Commands {
  readonly #presence: PresenceTracker;
  readonly #handlers: ReadonlyMap<string, Handler>;

  constructor(presence: PresenceTracker) {
    this.#presence = presence;
    this.#handlers = new Map<string, Handler>([
      ['subscribe:site', (s, a) => this.#subscribeSite(s, a)],
      ['unsubscribe:site', (s, a) => this.#unsubscribeSite(s, a)],
      ['subscribe:alarms', (s) => this.#subscribeChannel(s, 'alarms')],
      ['subscribe:notifications', (s) => this.#subscribeChannel(s, 'notifications')],
      ['ping', () => ['pong', { timestamp: Date.now() }]],
    ]);
  }

  /** Runs one decoded frame; answers with its reply or an error frame. Returns false for a refused frame. */
  handle(session: Session, frame: Frame): boolean {
    const [op, args, rawRef] = frame;
    const ref = typeof rawRef === 'number' || typeof rawRef === 'string' ? rawRef : undefined;
    const handler = this.#handlers.get(op);
    try {
      if (handler === undefined) throw new CommandError(ErrorCode.UnknownOp, `unknown operation ${JSON.stringify(op).slice(0, 80)}`);
      const [name, data] = handler(session, args);
      session.send([name, data, ref === undefined ? undefined : { ref }]);
      return true;
    } catch (e) {
      if (!(e instanceof CommandError)) throw e;
      session.send(['error', { code: e.code, message: e.message, op: op.slice(0, 80) }, ref === undefined ? undefined : { ref }]);
      return e.code !== ErrorCode.UnknownOp && e.code !== ErrorCode.BadArguments;
    }
  }

  #subscribeSite(session: Session, args: unknown): readonly [string, unknown] {
    const siteId = siteArg(args);
    if (!grantsSite(session.grant, siteId)) throw new CommandError(ErrorCode.Forbidden, `site ${siteId} is not in your token`);
    if (!session.sites.has(siteId)) {
      session.sites.add(siteId);
      session.syncTopics();
      this.#presence.joinedSite(siteId, session.grant.userId);
    }
    return ['subscribed', { siteId: (args as { siteId: unknown }).siteId, message: `subscribed to site ${siteId}` }];
  }

  #unsubscribeSite(session: Session, args: unknown): readonly [string, unknown] {
    const siteId = siteArg(args);
    if (session.sites.delete(siteId)) {
      session.syncTopics();
      this.#presence.leftSite(siteId, session.grant.userId);
    }
    return ['unsubscribed', { siteId: (args as { siteId: unknown }).siteId, message: `unsubscribed from site ${siteId}` }];
  }

  #subscribeChannel(session: Session, channel: 'alarms' | 'notifications'): readonly [string, unknown] {
    if (!session[channel]) {
      session[channel] = true;
      session.syncTopics();
    }
    return ['subscribed', { channel, message: `subscribed to ${channel}` }];
  }
}

function siteArg(args: unknown): string {
  const raw = (args as { siteId?: unknown } | null | undefined)?.siteId;
  const siteId = idToken(raw);
  if (siteId === undefined) throw new CommandError(ErrorCode.BadArguments, 'expected {siteId}: a non-negative integer or [A-Za-z0-9_-]{1,64}');
  return siteId;
}
