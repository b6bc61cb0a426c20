/**
 * This hub's users, partitioned into the shards it writes to the presence
 * bucket, with the set of shards changed since the last write. A change marks
 * one shard; a write takes the marked ones, so a connection storm costs at most
 * one write per shard per flush however many users it brings.
 */
import { encodeShard, MAX_SHARDS, SHARD_SPLIT_BYTES, type UserRecord, userHash } from './presence-entry.ts';

interface LocalUser {
  readonly hash: number;
  record: UserRecord;
}

/** One shard to write: its new value, or undefined when it has no users left (delete it). */
export interface ShardWrite {
  readonly shard: number;
  readonly value: Uint8Array | undefined;
}

export class PresenceShards {
  readonly #users = new Map<string, LocalUser>();
  /** Users per shard; its length is the shard count, a power of two. */
  #members: Array<Set<string>> = [new Set()];
  readonly #dirty = new Set<number>();
  readonly #splitBytes: number;

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

  record(user: string): UserRecord | undefined {
    return this.#users.get(user)?.record;
  }

  /** Replaces a user's record (undefined: the user left); returns the one it replaced. */
  set(user: string, record: UserRecord | undefined): UserRecord | undefined {
    const local = this.#users.get(user);
    const prev = local?.record;
    if (record === undefined) {
      if (local === undefined) return undefined;
      this.#users.delete(user);
      const shard = local.hash & (this.#members.length - 1);
      this.#members[shard]!.delete(user);
      this.#dirty.add(shard);
      return prev;
    }
    if (local !== undefined) local.record = record;
    else this.#users.set(user, { hash: userHash(user), record });
    const shard = (local?.hash ?? this.#users.get(user)!.hash) & (this.#members.length - 1);
    this.#members[shard]!.add(user);
    this.#dirty.add(shard);
    return prev;
  }

  /** Marks a shard for rewriting (a failed write, or a refresh before the bucket's max age). */
  markChanged(shard: number): void {
    if (shard < this.#members.length) this.#dirty.add(shard);
  }

  /**
   * Encodes every changed shard and clears the marks. A value over the split size doubles
   * the shard count first (every user moves to `hash mod 2n`, so every shard is rewritten):
   * what leaves keeps each value near the split size whatever the number of users.
   */
  takeChanges(): ShardWrite[] {
    for (;;) {
      const out: ShardWrite[] = [];
      let tooBig = false;
      for (const shard of this.#dirty) {
        const members = this.#members[shard]!;
        const value = members.size === 0 ? undefined : encodeShard(this.#entries(members));
        if (value !== undefined && value.length > this.#splitBytes && members.size > 1) tooBig = true;
        out.push({ shard, value });
      }
      if (!tooBig || this.#members.length >= MAX_SHARDS) {
        this.#dirty.clear();
        return out;
      }
      this.#split();
    }
  }

  /** Doubles the shard count; marks every shard, old and new, changed. */
  #split(): void {
    const n = this.#members.length * 2;
    const members: Array<Set<string>> = Array.from({ length: n }, () => new Set());
    for (const [user, local] of this.#users) members[local.hash & (n - 1)]!.add(user);
    this.#members = members;
    for (let i = 0; i < n; i++) this.#dirty.add(i);
  }

  *#entries(members: Set<string>): Iterable<readonly [string, UserRecord]> {
    for (const user of members) yield [user, this.#users.get(user)!.record];
  }
}
