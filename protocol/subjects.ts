/**
 * Subject, stream and topic names. One namespace prefixes all of them so that
 * several hubs, tests and benches share one NATS server without seeing each other.
 */

/** Namespace: becomes part of stream and bucket names, so only name-safe characters. */
export const NAMESPACE_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
/** Site and user ids become subject tokens: no dots, wildcards or spaces. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** The three logs, each with its own sequence (offset) space. */
export type StreamKey = 'site' | 'user' | 'global';
export const STREAM_KEYS: readonly StreamKey[] = ['site', 'user', 'global'];

export function isValidNamespace(ns: unknown): ns is string {
  return typeof ns === 'string' && NAMESPACE_PATTERN.test(ns);
}

/** Normalises a site or user id (numbers as the seed used them, or strings) to its subject token, or undefined. */
export function idToken(id: unknown): string | undefined {
  if (typeof id === 'number') return Number.isSafeInteger(id) && id >= 0 ? String(id) : undefined;
  if (typeof id === 'string') return ID_PATTERN.test(id) ? id : undefined;
  return undefined;
}

/** Longest user id accepted (e-mails, UUIDs, big integers as strings). */
export const MAX_USER_ID_LENGTH = 128;

/**
 * The subject token of a user id. Ids that are already subject-safe (`[A-Za-z0-9_-]{1,64}`)
 * stand as they are, so existing subjects and cursors keep their names; any other
 * string of 1–128 characters (an e-mail, a UUID with dots) becomes `=` + base64url of
 * its UTF-8 bytes: `=` never occurs in a plain id, so the two forms cannot collide,
 * and the token is safe in subjects, uWS topics and KV keys alike.
 * Numbers (safe integers ≥ 0) and bigints are their decimal strings.
 */
export function userToken(id: unknown): string | undefined {
  if (typeof id === 'bigint') return id >= 0n ? id.toString() : undefined;
  if (typeof id === 'number') return idToken(id);
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_USER_ID_LENGTH) return undefined;
  if (ID_PATTERN.test(id)) return id;
  // Control characters are refused: they have no place in an id and would make logs ambiguous.
  if (/[\u0000-\u001f\u007f]/.test(id)) return undefined;
  return `=${base64url(new TextEncoder().encode(id))}`;
}

/** The user id a subject token stands for: the inverse of `userToken` (numbers come back as their decimal strings). */
export function userIdOfToken(token: string): string {
  if (!token.startsWith('=')) return token;
  const b64 = token.slice(1).replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
}

/** Browser-safe (no Buffer): protocol/ is loaded by browsers too. */
function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function streamName(ns: string, key: StreamKey): string {
  return `${ns}_${key}`;
}

export function streamSubjects(ns: string, key: StreamKey): string {
  return `${ns}.${key}.>`;
}

export function siteSubject(ns: string, siteId: string, tail: string): string {
  return `${ns}.site.${siteId}.${tail}`;
}

export function userSubject(ns: string, userId: string, tail: string): string {
  return `${ns}.user.${userId}.${tail}`;
}

export function globalSubject(ns: string, tail: string): string {
  return `${ns}.global.${tail}`;
}

export function presenceBucket(ns: string): string {
  return `${ns}_presence`;
}

/** Core NATS request subject every hub answers (one per request, queue group) with cluster-wide OnlineStats. */
export function presenceStatsSubject(ns: string): string {
  return `${ns}.presence.stats`;
}

/** Per-user acked positions (durable offline delivery). */
export function cursorBucket(ns: string): string {
  return `${ns}_cursors`;
}

/** Socket.IO sessions' subscriptions by private session id (connection state recovery on any hub). */
export function recoveryBucket(ns: string): string {
  return `${ns}_sio_sessions`;
}

/** Every KV bucket of a namespace (to drop a namespace whole). */
export function namespaceBuckets(ns: string): string[] {
  return [presenceBucket(ns), cursorBucket(ns), recoveryBucket(ns)];
}

/** A subject taken apart: which log, whose, and the catalogue tail (e.g. `alarm.raised`). */
export interface ParsedSubject {
  readonly stream: StreamKey;
  /** Site id for `site`, user id for `user`, empty for `global`. */
  readonly owner: string;
  readonly tail: string;
}

export function parseSubject(ns: string, subject: string): ParsedSubject | undefined {
  if (!subject.startsWith(ns) || subject.charCodeAt(ns.length) !== 46 /* . */) return undefined;
  const rest = subject.slice(ns.length + 1);
  const dot = rest.indexOf('.');
  if (dot < 0) return undefined;
  const stream = rest.slice(0, dot);
  const after = rest.slice(dot + 1);
  if (stream === 'global') return { stream, owner: '', tail: after };
  if (stream !== 'site' && stream !== 'user') return undefined;
  const dot2 = after.indexOf('.');
  if (dot2 <= 0) return undefined;
  return { stream, owner: after.slice(0, dot2), tail: after.slice(dot2 + 1) };
}

/**
 * uWS topics a socket joins. Permission is decided when a socket joins a topic,
 * never per message. Binary and JSON sockets join different topics because
 * they need different bytes.
 */
export const topics = {
  /**
   * A site's normal and latest-value events (task, order, production, inventory; dashboard, vehicle). One topic
   * for both classes: every topic a socket is on costs uWS ~100 bytes of native memory, and a slow socket's
   * latest values are conflated by their class, not their topic.
   */
  siteData: (siteId: string) => `site/${siteId}`,
  siteAlarms: (siteId: string) => `site/${siteId}/alarm`,
  /** Every site's alarms, for tokens granting all sites (`sites: "*"`). */
  allAlarms: 'alarm/*',
  /** A user's private notifications: that user's sessions subscribed to notifications. */
  user: (userId: string) => `user/${userId}`,
  /** System messages: every session. */
  globalSystem: 'global/system',
  /** Broadcast notifications: sessions subscribed to notifications. */
  globalNotifications: 'global/notification',
} as const;
