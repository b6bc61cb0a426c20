/**
 * This hub's users, partitioned into the shards it writes to the presence
 * bucket, with the set of shards changed since the last write. A change marks
 * one shard; a write takes the marked ones, so a connection storm costs at most
 * one write per shard per flush however many users it brings.
 */
import { encodeShard, MAX_SHARDS, SHARD_SPLIT_BYTES, type StoredRecord, userHash } from './presence-entry.ts';

/** One shard to write: its new value, or undefined when it has no users left (delete it). */
export interface ShardWrite {
  readonly shard: number;
  readonly value: Uint8Array | undefined;
}

/**
 * A user's record in the form the shard stores it (`[connections, site, count, …]`), never changed in place: a
 * change sets another (shared between the users with the same one, see sharedList). Per user a map entry and
 * nothing else: an object per user and a map over all of them cost ~110 bytes a user where this costs ~40.
 */
export class PresenceShards {
  /** Per shard its users (the array's length is the shard count, a power of two). */
  #shards: Array<Map<string, StoredRecord>> = [new Map()];
  #userCount = 0;
  readonly #dirty = new Set<number>();
  readonly #splitBytes: number;
  /** Encoded bytes per user as last seen, to grow the shard count before encoding shards that would be split. */
  #bytesPerUser = 32;

  constructor(splitBytes = SHARD_SPLIT_BYTES) {
    this.#splitBytes = splitBytes;
  }

  get shardCount(): number {
    return this.#shards.length;
  }

  get userCount(): number {
    return this.#userCount;
  }

  get hasChanges(): boolean {
    return this.#dirty.size > 0;
  }

  get(user: string): StoredRecord | undefined {
    return this.#shards[this.#shardOf(user)]!.get(user);
  }

  /** Sets a user's record (a user with no connection and no site, `[0]`, is removed); its shard is marked changed. */
  set(user: string, record: StoredRecord): void {
    const shard = this.#shardOf(user);
    const users = this.#shards[shard]!;
    const had = users.has(user);
    if (record.length === 1 && record[0] === 0) {
      if (!had) return;
      users.delete(user);
      this.#userCount--;
    } else {
      users.set(user, record);
      if (!had) this.#userCount++;
    }
    this.#dirty.add(shard);
  }

  /** Marks a shard for rewriting (a failed write, or a refresh before the bucket's max age). */
  markChanged(shard: number): void {
    if (shard < this.#shards.length) this.#dirty.add(shard);
  }

  /**
   * Encodes every changed shard and clears the marks. A value over the split size multiplies
   * the shard count first (every user moves to `hash mod n`, so every shard is rewritten):
   * what leaves keeps each value near the split size whatever the number of users.
   */
  takeChanges(): ShardWrite[] {
    // Mean shard size over half the split size: grow first (a storm of connects would
    // otherwise encode every user once at the old count only to throw it away).
    const mean = (this.#userCount / this.#shards.length) * this.#bytesPerUser;
    if (mean > this.#splitBytes / 2 && this.#shards.length < MAX_SHARDS) {
      let factor = 2;
      while (mean / factor > this.#splitBytes / 2) factor *= 2;
      this.#split(Math.min(MAX_SHARDS, this.#shards.length * factor));
    }
    for (;;) {
      const out: ShardWrite[] = [];
      let largest = 0;
      for (const shard of this.#dirty) {
        const users = this.#shards[shard]!;
        const value = users.size === 0 ? undefined : encodeShard(users);
        if (value !== undefined) this.#bytesPerUser = value.length / users.size;
        if (value !== undefined && value.length > this.#splitBytes && users.size > 1) largest = Math.max(largest, value.length);
        out.push({ shard, value });
      }
      if (largest === 0 || this.#shards.length >= MAX_SHARDS) {
        this.#dirty.clear();
        return out;
      }
      // Grow at once to where the largest shard would be half the split size, not one doubling per encoding.
      let factor = 2;
      while (factor * this.#splitBytes < 2 * largest) factor *= 2;
      this.#split(Math.min(MAX_SHARDS, this.#shards.length * factor));
    }
  }

  /** The shard of a user: its hash mod the shard count (recomputed, not kept: a few ns a call, a slot a user less). */
  #shardOf(user: string): number {
    return userHash(user) & (this.#shards.length - 1);
  }

  /** Raises the shard count to `n` (a power of two); marks every shard, old and new, changed. */
  #split(n: number): void {
    const old = this.#shards;
    this.#shards = Array.from({ length: n }, () => new Map<string, StoredRecord>());
    for (const users of old) for (const [user, record] of users) this.#shards[this.#shardOf(user)]!.set(user, record);
    for (let i = 0; i < n; i++) this.#dirty.add(i);
  }
}
