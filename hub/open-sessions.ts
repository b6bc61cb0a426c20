/**
 * The gateway's open sessions, as a list linked through the sessions themselves (`prevOpen`, `nextOpen`): two
 * fields per session where a Set cost ~40 bytes of hash table per connection. Membership, adding and removing
 * are O(1); iteration is in the order of opening.
 */
import type { Session } from './session.ts';

export class OpenSessions implements Iterable<Session> {
  #head: Session | undefined;
  #tail: Session | undefined;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  has(session: Session): boolean {
    return session.prevOpen !== undefined || this.#head === session;
  }

  add(session: Session): void {
    if (this.has(session)) return;
    session.prevOpen = this.#tail;
    session.nextOpen = undefined;
    if (this.#tail === undefined) this.#head = session;
    else this.#tail.nextOpen = session;
    this.#tail = session;
    this.#size++;
  }

  /** False if it was not in the list. */
  delete(session: Session): boolean {
    if (!this.has(session)) return false;
    const { prevOpen: prev, nextOpen: next } = session;
    if (prev === undefined) this.#head = next;
    else prev.nextOpen = next;
    if (next === undefined) this.#tail = prev;
    else next.prevOpen = prev;
    // `nextOpen` is left as it was: an iteration standing on this session (one that closed it) goes on from there.
    session.prevOpen = undefined;
    this.#size--;
    return true;
  }

  *[Symbol.iterator](): Iterator<Session> {
    for (let s = this.#head; s !== undefined; s = s.nextOpen) yield s;
  }
}
