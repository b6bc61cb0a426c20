/**
 * Which user a bearer token belongs to, known without waiting: a bounded cache
 * of tokens already verified (by SHA-256 digest, never the token itself). A
 * token not seen before is verified in the background, so its next request
 * knows; until then it is unknown. Only verified tokens enter, so a forged
 * token naming another user can never spend that user's budget.
 */
import { createHash } from 'node:crypto';
import type { Authenticator } from './authenticator.ts';

export class VerifiedTokens {
  readonly #auth: Authenticator;
  readonly #maxEntries: number;
  readonly #ttlMs: number;
  readonly #users = new Map<string, { readonly user: string; readonly until: number }>();
  readonly #verifying = new Set<string>();

  /** `ttlMs`: how long a verification stands (at most until the token expires). */
  constructor(auth: Authenticator, maxEntries = 10_000, ttlMs = 300_000) {
    this.#auth = auth;
    this.#maxEntries = maxEntries;
    this.#ttlMs = ttlMs;
  }

  /** The user key of a token verified before, or undefined (its verification then starts). */
  userOf(token: string, now = Date.now()): string | undefined {
    const digest = createHash('sha256').update(token).digest('base64url');
    const known = this.#users.get(digest);
    if (known !== undefined) {
      if (known.until > now) return known.user;
      this.#users.delete(digest);
    }
    if (!this.#verifying.has(digest) && this.#verifying.size < this.#maxEntries) {
      this.#verifying.add(digest);
      this.#auth
        .verify(token)
        .then((grant) => {
          // The oldest entry makes room: the map never grows past its bound.
          if (this.#users.size >= this.#maxEntries) this.#users.delete(this.#users.keys().next().value!);
          this.#users.set(digest, { user: grant.userKey, until: Math.min(grant.expiresAt ?? Infinity, Date.now() + this.#ttlMs) });
        })
        // A bad token stays unknown: the route that serves the request answers 401.
        .catch(() => {})
        .finally(() => this.#verifying.delete(digest));
    }
    return undefined;
  }
}
