/**
 * The presence bucket's keys and values. Each hub process (`pid`, its random id)
 * writes a heartbeat `hb.<pid>` every quarter of its TTL and its users in shards
 * `sh.<pid>.<i>`: a user's record lives in shard `hash(userKey) mod shards`, and
 * the shard count grows (powers of two) when a value passes SHARD_SPLIT_BYTES, so no
 * value grows with the number of users. Shards are written when they change, not
 * on every heartbeat: a hub's liveness is its heartbeat, not its shards' age.
 */

/** What a heartbeat says: whose, and how long to trust it. */
export interface Heartbeat {
  readonly ttlMs: number;
}

/**
 * The bucket's max age. Liveness is the heartbeat's business; this only bounds how long the
 * shards of a hub that died without cleaning up stay stored. A live hub rewrites any shard
 * older than half of it, so a hub with steady users costs ~1 write per shard per 5 minutes.
 */
export const PRESENCE_RETAIN_MS = 10 * 60_000;

/** A shard is split (the shard count multiplied) once its encoded value passes this. */
export const SHARD_SPLIT_BYTES = 8 * 1024;
/** Shards per hub at most: 65,536 × 8 KiB covers far more users than one process can hold. */
export const MAX_SHARDS = 65_536;

export type PresenceKey = { readonly kind: 'heartbeat'; readonly pid: string } | { readonly kind: 'shard'; readonly pid: string; readonly shard: number };

export function heartbeatKey(pid: string): string {
  return `hb.${pid}`;
}

export function shardKey(pid: string, shard: number): string {
  return `sh.${pid}.${shard}`;
}

/** The KV subject filter of every shard of one hub (for a purge on clean shutdown). */
export function shardsFilter(bucket: string, pid: string): string {
  return `$KV.${bucket}.sh.${pid}.>`;
}

/** Undefined for keys of another layout (a hub of an older version writes bare `<hubId>` keys). */
export function parsePresenceKey(key: string): PresenceKey | undefined {
  const parts = key.split('.');
  if (parts[0] === 'hb' && parts.length === 2 && parts[1] !== '') return { kind: 'heartbeat', pid: parts[1]! };
  if (parts[0] === 'sh' && parts.length === 3 && parts[1] !== '' && /^\d+$/.test(parts[2]!)) return { kind: 'shard', pid: parts[1]!, shard: Number(parts[2]) };
  return undefined;
}

/** FNV-1a over UTF-16 code units: cheap, stable across processes, spreads ids like `u1`…`u99999` evenly. */
export function userHash(userKey: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < userKey.length; i++) {
    h ^= userKey.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A user on one hub: its connections, and per site the connections subscribed to it, flat as
 * `[connections, site, count, site, count, …]`: the parsed JSON of a shard itself. Flat arrays, not objects:
 * site ids are numeric strings, which an object keeps as (often sparse) array elements, ~1 KB a user where
 * this takes ~40 bytes.
 */
export type StoredRecord = ReadonlyArray<string | number>;

/** `{"<userKey>":[connections,"<site>",connections,…]}`: ~15 bytes a user beyond the id with one site. */
export function encodeShard(users: Iterable<readonly [string, StoredRecord]>): Uint8Array {
  // Built as a string: a shard is rewritten on every change to it, and an object per shard plus
  // JSON.stringify cost several times more (user keys and site ids are subject tokens, quoted as JSON anyway).
  let out = '{';
  for (const [user, r] of users) {
    if (out.length > 1) out += ',';
    out += `${JSON.stringify(user)}:[${r[0]}`;
    for (let k = 1; k < r.length; k += 2) out += `,${JSON.stringify(r[k])},${r[k + 1]}`;
    out += ']';
  }
  return encoder.encode(`${out}}`);
}

/** A decoded shard: user → record, the parsed JSON itself (no copy: every hub holds every user's). */
export type StoredShard = Readonly<Record<string, StoredRecord>>;

/** Throws on a value that is not a shard: a bad entry is skipped by the reader, never half-applied. */
export function decodeShard(bytes: Uint8Array): StoredShard {
  const raw = JSON.parse(decoder.decode(bytes)) as unknown;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new TypeError('a presence shard is a JSON object');
  const shard = raw as Record<string, unknown>;
  for (const user in shard) {
    const v = shard[user];
    if (!Array.isArray(v) || !Number.isInteger(v[0]) || v[0] < 0 || v.length % 2 !== 1) throw new TypeError(`presence shard: bad record for ${user}`);
    for (let k = 1; k < v.length; k += 2) if (typeof v[k] !== 'string' || !isCount(v[k + 1])) throw new TypeError(`presence shard: bad sites for ${user}`);
  }
  return shard as StoredShard;
}

export function encodeHeartbeat(h: Heartbeat): Uint8Array {
  return encoder.encode(JSON.stringify(h));
}

export function decodeHeartbeat(bytes: Uint8Array): Heartbeat {
  const raw = JSON.parse(decoder.decode(bytes)) as { ttlMs?: unknown };
  if (typeof raw?.ttlMs !== 'number' || !(raw.ttlMs > 0)) throw new TypeError('a presence heartbeat carries a positive ttlMs');
  return { ttlMs: raw.ttlMs };
}

function isCount(v: unknown): v is number {
  return Number.isInteger(v) && (v as number) > 0;
}
