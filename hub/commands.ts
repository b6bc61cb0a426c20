/**
 * Client operations: `[op, args?, ref?]` in, a reply frame carrying `{ref}` out
 * (async operations answer when done). Site and user ids in a frame never widen
 * what the token grants.
 */
import { randomUUID } from 'node:crypto';
import type { Frame } from '../protocol/codec.ts';
import { CloseCode, ErrorCode } from '../protocol/errors.ts';
import { buildAppend } from '../protocol/event-append.ts';
import { idToken, STREAM_KEYS, type StreamKey } from '../protocol/subjects.ts';
import { type Authenticator, AuthError } from './authenticator.ts';
import type { HubConfig } from './config.ts';
import type { CursorStore } from './cursor-store.ts';
import { type EventLog, LogUnavailable, ResumeCancelled } from './event-log.ts';
import { grantsSite, hasAnyRole } from './grant.ts';
import type { Logger } from './logger.ts';
import type { PresenceTracker } from './presence-tracker.ts';
import type { Replayer, ResumeFrom } from './replayer.ts';
import type { Session, SubscriptionState } from './session.ts';
import { subscriptionState } from './subscription-states.ts';
import { alarmsSubscription, globalSubscription, siteSubscription, type Subscription, systemSubscription, userSubscription } from './subscription.ts';

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

type Reply = readonly [name: string, data: unknown];
type Handler = (session: Session, args: unknown) => Reply | Promise<Reply>;

/** The log side, present once the hub is connected. */
export interface CommandBackend {
  readonly events: EventLog;
  readonly replayer: Replayer;
  readonly cursors: CursorStore;
}

export class Commands {
  readonly #config: HubConfig;
  readonly #presence: PresenceTracker;
  readonly #auth: Authenticator;
  readonly #log: Logger;
  readonly #backend: () => CommandBackend | undefined;
  readonly #handlers: ReadonlyMap<string, Handler>;

  constructor(config: HubConfig, presence: PresenceTracker, auth: Authenticator, log: Logger, backend: () => CommandBackend | undefined) {
    this.#config = config;
    this.#presence = presence;
    this.#auth = auth;
    this.#log = log;
    this.#backend = backend;
    this.#handlers = new Map<string, Handler>([
      ['subscribe:site', (s, a) => this.#subscribeSite(s, a)],
      ['unsubscribe:site', (s, a) => this.#unsubscribeSite(s, a)],
      ['subscribe:alarms', (s, a) => this.#subscribeAlarms(s, a)],
      ['subscribe:notifications', (s) => this.#subscribeNotifications(s)],
      ['ack', (s, a) => this.#ack(s, a)],
      ['alarm:ack', (s, a) => this.#alarmAck(s, a)],
      ['auth:refresh', (s, a) => this.#refresh(s, a)],
      ['ping', () => ['pong', { timestamp: Date.now() }]],
    ]);
  }

  /** Runs one decoded frame. Returns false for a frame that counts as garbage (unknown op, bad arguments). */
  handle(session: Session, frame: Frame): boolean {
    const [op, args, rawRef] = frame;
    const ref = typeof rawRef === 'number' || typeof rawRef === 'string' ? rawRef : undefined;
    const meta = ref === undefined ? undefined : { ref };
    const handler = this.#handlers.get(op);
    const fail = (e: unknown): boolean => {
      if (e instanceof ResumeCancelled) return true;
      if (e instanceof LogUnavailable) {
        this.#log.warn({ clientId: session.id, op, err: e.message }, 'resume failed: the event log did not answer; the client reconnects and resumes');
        session.end(CloseCode.HubUnavailable, 'event log unavailable: reconnect and resume');
        return true;
      }
      if (!(e instanceof CommandError)) {
        const errorId = randomUUID();
        this.#log.error({ errorId, clientId: session.id, op, err: (e as Error).stack }, 'command failed');
        session.send(['error', { code: ErrorCode.Internal, message: `internal error ${errorId}`, op: op.slice(0, 80) }, meta]);
        return true;
      }
      session.send(['error', { code: e.code, message: e.message, op: op.slice(0, 80) }, meta]);
      return e.code !== ErrorCode.UnknownOp && e.code !== ErrorCode.BadArguments;
    };
    try {
      if (handler === undefined) throw new CommandError(ErrorCode.UnknownOp, `unknown operation ${JSON.stringify(op).slice(0, 80)}`);
      const result = handler(session, args);
      if (result instanceof Promise) {
        result.then(([name, data]) => session.send([name, data, meta]), fail);
        return true;
      }
      session.send([result[0], result[1], meta]);
      return true;
    } catch (e) {
      return fail(e);
    }
  }

  /** What every session has from the start: system messages. */
  startSession(session: Session): Promise<void> {
    return this.#openFromCursors(session, [systemSubscription]);
  }

  /**
   * Opens subscriptions to the user and global logs. A session that acks resumes them from the
   * user's durable cursor, so what arrived while the user was offline, on any device, is delivered now.
   */
  #openFromCursors(session: Session, subs: readonly Subscription[]): Promise<void> {
    const backend = this.#backend();
    const states = subs.map((sub) => this.#open(session, sub));
    if (!session.acks || backend === undefined) {
      // Fire-and-forget clients are live from their first frame.
      for (const state of states) session.joinLive(state);
      return Promise.resolve();
    }
    // Taken now, before any await: for a user without a cursor yet, nothing appended after connecting is missed.
    const connectedAt = states.map((state) => backend.replayer.position(state.sub.stream));
    return this.#resumeFromCursors(session, backend, states, connectedAt);
  }

  async #resumeFromCursors(session: Session, backend: CommandBackend, states: SubscriptionState[], connectedAt: ResumeFrom[]): Promise<void> {
    const cursors = await backend.cursors.get(session.grant.userKey);
    for (const [i, state] of states.entries()) {
      const cursor = cursors[state.sub.stream];
      try {
        const result = await backend.replayer.resume(session, state, cursor ?? connectedAt[i]);
        // First connection of this user: offline delivery counts from now.
        if (cursor === undefined) backend.cursors.advance(session.grant.userKey, state.sub.stream, { epoch: result.epoch, offset: result.offset });
      } catch (e) {
        if (!(e instanceof ResumeCancelled)) throw e;
      }
    }
  }

  #open(session: Session, sub: Subscription): SubscriptionState {
    const existing = session.subscriptions.get(sub.key);
    if (existing === undefined && session.subscriptions.size >= this.#config.maxSubscriptions) {
      throw new CommandError(ErrorCode.LimitExceeded, `at most ${this.#config.maxSubscriptions} subscriptions per connection`);
    }
    if (existing !== undefined) session.leave(existing);
    const state = subscriptionState(sub);
    session.subscriptions.set(state);
    return state;
  }

  async #resume(session: Session, state: SubscriptionState, from: ResumeFrom | undefined) {
    const backend = this.#backend();
    if (backend === undefined) {
      // Not connected to NATS yet: live only (nothing is delivered until it is).
      session.joinLive(state);
      return { offset: 0, epoch: '', recovered: from === undefined, replayed: 0 };
    }
    return backend.replayer.resume(session, state, from);
  }

  #subscribeSite(session: Session, args: unknown): Promise<Reply> {
    // Not async: arguments are checked before any await, so a garbage frame throws now and `handle` counts it.
    const siteId = siteArg(args);
    if (!grantsSite(session.grant, siteId)) throw new CommandError(ErrorCode.Forbidden, `site ${siteId} is not in your token`);
    const from = resumeArg(args);
    const fresh = !session.subscriptions.has(`site:${siteId}`);
    const state = this.#open(session, siteSubscription(siteId));
    if (fresh) this.#presence.joinedSite(siteId, session.grant.userKey);
    return this.#resume(session, state, from).then((result): Reply => ['subscribed', { siteId: (args as { siteId: unknown }).siteId, message: `subscribed to site ${siteId}`, ...result }]);
  }

  #unsubscribeSite(session: Session, args: unknown): Reply {
    const siteId = siteArg(args);
    const state = session.subscriptions.get(`site:${siteId}`);
    if (state !== undefined) {
      session.leave(state);
      this.#presence.leftSite(siteId, session.grant.userKey);
    }
    return ['unsubscribed', { siteId: (args as { siteId: unknown }).siteId, message: `unsubscribed from site ${siteId}` }];
  }

  #subscribeAlarms(session: Session, args: unknown): Promise<Reply> {
    // Checked before any await (see #subscribeSite).
    return this.#subscribeAlarmsFrom(session, resumeArg(args));
  }

  async #subscribeAlarmsFrom(session: Session, asked: ResumeFrom | undefined): Promise<Reply> {
    let from = asked;
    const backend = this.#backend();
    if (session.acks && backend !== undefined) {
      // Unacked alarms come back after a reconnect, on any device: resume from the acked cursor when it is older.
      const acked = (await backend.cursors.get(session.grant.userKey)).site;
      if (acked !== undefined && (from === undefined || (from.epoch === acked.epoch && acked.offset < from.offset))) from = acked;
    }
    const state = this.#open(session, alarmsSubscription);
    const result = await this.#resume(session, state, from);
    if (session.acks && backend !== undefined && from === undefined) {
      backend.cursors.advance(session.grant.userKey, 'site', { epoch: result.epoch, offset: result.offset });
    }
    return ['subscribed', { channel: 'alarms', message: 'subscribed to alarms', ...result }];
  }

  /**
   * The seed's notification channel: the user's private notifications and the broadcasts, from
   * now on (and, for a session that acks, what arrived since the user's cursor).
   */
  #subscribeNotifications(session: Session): Reply | Promise<Reply> {
    const reply: Reply = ['subscribed', { channel: 'notifications', message: 'subscribed to notifications', live: true }];
    if (session.subscriptions.has('user')) return reply;
    return this.#openFromCursors(session, [userSubscription(session.grant.userKey), globalSubscription]).then(() => reply);
  }

  /** `['ack', {stream, offset, epoch}]`: cumulative; moves the user's durable cursor. */
  #ack(session: Session, args: unknown): Reply {
    const a = args as { stream?: unknown; offset?: unknown; epoch?: unknown } | null;
    if (typeof a !== 'object' || a === null || !STREAM_KEYS.includes(a.stream as StreamKey) || !Number.isSafeInteger(a.offset) || (a.offset as number) < 0 || typeof a.epoch !== 'string') {
      throw new CommandError(ErrorCode.BadArguments, 'expected {stream: "site"|"user"|"global", offset: integer ≥ 0, epoch: string}');
    }
    const stream = a.stream as StreamKey;
    // Only what this connection was sent can be acked: a forged ack beyond it would move the user's durable
    // cursor and silence their offline notifications and unacked alarms on every device. The part beyond is
    // dropped, not refused: an honest client may flush, on a new connection, acks of what the last one got,
    // and those events come back from the cursor and are acked again.
    const offset = Math.min(a.offset as number, session.sentUpTo(stream));
    session.ack(stream, offset);
    const backend = this.#backend();
    const current = backend?.replayer.position(stream).epoch;
    if (backend !== undefined && session.acks && a.epoch === current && offset > 0) backend.cursors.advance(session.grant.userKey, stream, { epoch: a.epoch, offset });
    return ['acked', { stream, offset }];
  }

  /** An operator acknowledges an alarm: authorised by role and site, appended as `alarm:update`. */
  #alarmAck(session: Session, args: unknown): Promise<Reply> {
    // Checked before any await (see #subscribeSite).
    const a = args as { alarmId?: unknown; siteId?: unknown } | null;
    const alarmId = a?.alarmId;
    if ((typeof alarmId !== 'string' && typeof alarmId !== 'number') || String(alarmId).length === 0 || String(alarmId).length > 128) {
      throw new CommandError(ErrorCode.BadArguments, 'expected {alarmId, siteId}');
    }
    const siteId = siteArg(args);
    if (!hasAnyRole(session.grant, this.#config.alarmAckRoles)) throw new CommandError(ErrorCode.Forbidden, `role ${[...session.grant.roles].join(', ')} may not acknowledge alarms`);
    if (!grantsSite(session.grant, siteId)) throw new CommandError(ErrorCode.Forbidden, `site ${siteId} is not in your token`);
    const backend = this.#backend();
    if (backend === undefined) throw new CommandError(ErrorCode.Unavailable, 'the hub is not connected to NATS yet; retry');
    const data = { id: alarmId, siteId: a!.siteId, status: 'acknowledged', acknowledgedBy: session.grant.userId, acknowledgedAt: new Date().toISOString() };
    const append = buildAppend(this.#config.namespace, { event: 'alarm:update', siteId, data });
    // The msg id makes a retried acknowledgement of the same alarm idempotent.
    return backend.events.append(append, `alarm-ack:${siteId}:${alarmId}`).then(
      (ack): Reply => ['alarm:acked', { alarmId, siteId: a!.siteId, offset: ack.offset, duplicate: ack.duplicate }],
      (e: Error) => {
        throw new CommandError(ErrorCode.Unavailable, `could not record the acknowledgement: ${e.message}`);
      },
    );
  }

  /** `['auth:refresh', {token}]`: a new token replaces the session's grant; sites it no longer grants are dropped. */
  #refresh(session: Session, args: unknown): Promise<Reply> {
    const token = (args as { token?: unknown } | null)?.token;
    // Checked before any await (see #subscribeSite).
    if (typeof token !== 'string') throw new CommandError(ErrorCode.BadArguments, 'expected {token}');
    return this.#refreshWith(session, token);
  }

  async #refreshWith(session: Session, token: string): Promise<Reply> {
    let grant;
    try {
      grant = await this.#auth.verify(token);
    } catch (e) {
      throw new CommandError(ErrorCode.BadToken, e instanceof AuthError ? e.message : 'token check failed');
    }
    // Compared by key: the same user may come back as 42 or "42", or under another configured claim.
    if (grant.userKey !== session.grant.userKey) throw new CommandError(ErrorCode.BadToken, 'a refreshed token must be for the same user');
    // Re-register with the new grant: the alarm feed's sites follow it.
    const states = [...session.subscriptions.values()];
    for (const state of states) if (state.live) session.leave(state);
    session.replaceGrant(grant);
    const dropped: string[] = [];
    for (const state of states) {
      const replaying = !state.live && session.subscriptions.has(state.sub.key);
      const site = state.sub.key.startsWith('site:') ? state.sub.key.slice(5) : undefined;
      if (site !== undefined && !grantsSite(grant, site)) {
        // A replay of a revoked site stops here, before it could hand over to live.
        if (replaying) session.leave(state);
        dropped.push(site);
        this.#presence.leftSite(site, grant.userKey);
        session.send(['unsubscribed', { siteId: site, message: `site ${site} is no longer in your token`, revoked: true }]);
        continue;
      }
      if (replaying) continue; // keeps running; it joins live under the new grant
      const fresh = subscriptionState(state.sub);
      session.subscriptions.set(fresh);
      session.joinLive(fresh);
    }
    return ['auth:refreshed', { expiresAt: grant.expiresAt ?? null, revokedSites: dropped }];
  }
}

export function siteArg(args: unknown): string {
  const raw = (args as { siteId?: unknown } | null | undefined)?.siteId;
  const siteId = idToken(raw);
  if (siteId === undefined) throw new CommandError(ErrorCode.BadArguments, 'expected {siteId}: a non-negative integer or [A-Za-z0-9_-]{1,64}');
  return siteId;
}

/** Optional `{offset, epoch}` of a resume. */
function resumeArg(args: unknown): ResumeFrom | undefined {
  const a = args as { offset?: unknown; epoch?: unknown } | null | undefined;
  if (a === null || typeof a !== 'object' || a.offset === undefined || a.offset === null) return undefined;
  if (!Number.isSafeInteger(a.offset) || (a.offset as number) < 0) throw new CommandError(ErrorCode.BadArguments, 'offset must be an integer ≥ 0');
  if (typeof a.epoch !== 'string') throw new CommandError(ErrorCode.BadArguments, 'a resume needs {offset, epoch}');
  return { offset: a.offset as number, epoch: a.epoch };
}
