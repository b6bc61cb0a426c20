/**
 * Which slow sessions listen where: sessions over their byte budget are taken off
 * the uWS topics and get those topics' events per socket (latest-value shed,
 * normal and critical sent). Membership is counted: two subscriptions of one
 * session may share a key.
 */
import type { Session } from './session.ts';

export class SubscriberRegistry {
  readonly #members = new Map<string, Map<Session, number>>();

  add(key: string, session: Session): void {
    let m = this.#members.get(key);
    if (m === undefined) this.#members.set(key, (m = new Map()));
    m.set(session, (m.get(session) ?? 0) + 1);
  }

  remove(key: string, session: Session): void {
    const m = this.#members.get(key);
    if (m === undefined) return;
    const n = (m.get(session) ?? 0) - 1;
    if (n > 0) m.set(session, n);
    else {
      m.delete(session);
      if (m.size === 0) this.#members.delete(key);
    }
  }

  /** Calls `fn` once per session listening on any of `keys`. */
  forEach(keys: readonly string[], fn: (session: Session) => void): void {
    if (keys.length === 1) {
      const m = this.#members.get(keys[0]!);
      if (m !== undefined) for (const s of m.keys()) fn(s);
      return;
    }
    const seen = new Set<Session>();
    for (const key of keys) {
      const m = this.#members.get(key);
      if (m === undefined) continue;
      for (const s of m.keys()) {
        if (seen.has(s)) continue;
        seen.add(s);
        fn(s);
      }
    }
  }

  has(key: string): boolean {
    return this.#members.has(key);
  }
}
