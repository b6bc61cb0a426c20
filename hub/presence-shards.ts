/**
 * This hub's users, partitioned into the shards it writes to the presence
 * bucket, with the set of shards changed since the last write. A change marks
 * one shard; a write takes the marked ones, so a connection storm costs at most
 * one write per shard per flush however many users it brings.
 */
import { encodeShard, MAX_SHARDS, SHARD_SPLIT_BYTES, type UserRecord, userHash } from './presence-entry.ts';

/** A user on this hub, changed in place by the tracker (which marks its shard changed). */
export interface LocalUser extends UserRecord {
  /** `userHash` as a signed 32-bit integer: a small integer in V8, where the unsigned hash is a boxed number half the time. */
  readonly hash: number;
  connections: number;
  /** `[site, count, site, count, …]`, replaced on every change (never changed in place): shared (sharedList). */
  sites: ReadonlyArray<string | number>;
  /** The user key (the shard's list needs it to encode the shard). */
  readonly key: string;
  /** The next user of its shard: the shard's members as a list through the records, not a Set per shard. */
  next: LocalUser | undefined;
}

/** One shard to write: its new value, or undefined when it has no users left (delete it). */
export interface ShardWrite {
  readonly shard: number;
  readonly value: Uint8Array | undefined;
}

const NO_SITES: ReadonlyArray<string | number> = Object.freeze([]);

export class PresenceShards {
  readonly #users = new Map<string, LocalUser>();
  /**
   * Per shard the first of its users, linked through `next` (a Set per shard cost ~30 bytes a user, the link
   * is one field); its length is the shard count, a power of two.
   */
  #members: Array<LocalUser | undefined> = [undefined];
  /** Users per shard. */
  #sizes: number[] = [0];
  readonly #dirty = new Set<number>();
  readonly #splitBytes: number;
  /** Encoded bytes per user as last seen, to grow the shard count before encoding shards that would be split. */
  #bytesPerUser = 32;

  constructor(splitBytes = SHARD_SPLIT_BYTES) {
    this.#splitBytes = splitBytes;
  }

  get shardCount(): number {
    return this.#members.length;
  }

  get userCount(): number {
    return this.#users.size;
  }

  get hasChanges(): boolean {
    return this.#dirty.size > 0;
  }

  get(user: string): LocalUser | undefined {
    return this.#users.get(user);
  }

  /** The user's record, created (no connection, no site) if absent; its shard is marked changed. */
  open(user: string): LocalUser {
    let local = this.#users.get(user);
    if (local === undefined) {
      this.#users.set(user, (local = { hash: userHash(user) | 0, connections: 0, sites: NO_SITES, key: user, next: undefined }));
      this.#link(local, local.hash & (this.#members.length - 1));
    }
    this.changed(local);
    return local;
  }

  /** Marks the shard of a record the caller is changing. */
  changed(local: LocalUser): void {
    this.#dirty.add(local.hash & (this.#members.length - 1));
  }

  /** Removes a user (no connection and no site left). */
  drop(user: string): void {
    const local = this.#users.get(user);
    if (local === undefined) return;
    this.#users.delete(user);
    const shard = local.hash & (this.#members.length - 1);
    // A shard holds a few hundred users at most (its value stays under the split size): a walk is cheap.
    let prev: LocalUser | undefined;
    for (let u = this.#members[shard]; u !== undefined && u !== local; u = u.next) prev = u;
    if (prev === undefined) this.#members[shard] = local.next;
    else prev.next = local.next;
    local.next = undefined;
    this.#sizes[shard]!--;
    this.#dirty.add(shard);
  }

  /** Marks a shard for rewriting (a failed write, or a refresh before the bucket's max age). */
  markChanged(shard: number): void {
    if (shard < this.#members.length) this.#dirty.add(shard);
  }

  /**
   * Encodes every changed shard and clears the marks. A value over the split size multiplies
   * the shard count first (every user moves to `hash mod n`, so every shard is rewritten):
   * what leaves keeps each value near the split size whatever the number of users.
   */
  takeChanges(): ShardWrite[] {
    // Mean shard size over half the split size: grow first (a storm of connects would
    // otherwise encode every user once at the old count only to throw it away).
    const mean = (this.#users.size / this.#members.length) * this.#bytesPerUser;
    if (mean > this.#splitBytes / 2 && this.#members.length < MAX_SHARDS) {
      let factor = 2;
      while (mean / factor > this.#splitBytes / 2) factor *= 2;
      this.#split(Math.min(MAX_SHARDS, this.#members.length * factor));
    }
    for (;;) {
      const out: ShardWrite[] = [];
      let largest = 0;
      for (const shard of this.#dirty) {
        const size = this.#sizes[shard]!;
        const value = size === 0 ? undefined : encodeShard(this.#entries(shard));
        if (value !== undefined) this.#bytesPerUser = value.length / size;
        if (value !== undefined && value.length > this.#splitBytes && size > 1) largest = Math.max(largest, value.length);
        out.push({ shard, value });
      }
      if (largest === 0 || this.#members.length >= MAX_SHARDS) {
        this.#dirty.clear();
        return out;
      }
      // Grow at once to where the largest shard would be half the split size, not one doubling per encoding.
      let factor = 2;
      while (factor * this.#splitBytes < 2 * largest) factor *= 2;
      this.#split(Math.min(MAX_SHARDS, this.#members.length * factor));
    }
  }

  /** Raises the shard count to `n` (a power of two); marks every shard, old and new, changed. */
  #split(n: number): void {
    this.#members = new Array<LocalUser | undefined>(n).fill(undefined);
    this.#sizes = new Array<number>(n).fill(0);
    for (const local of this.#users.values()) this.#link(local, local.hash & (n - 1));
    for (let i = 0; i < n; i++) this.#dirty.add(i);
  }

  /** Puts `local` first in `shard`'s list. */
  #link(local: LocalUser, shard: number): void {
    local.next = this.#members[shard];
    this.#members[shard] = local;
    this.#sizes[shard]!++;
  }

  *#entries(shard: number): Iterable<readonly [string, UserRecord]> {
    for (let u = this.#members[shard]; u !== undefined; u = u.next) yield [u.key, u];
  }
}
