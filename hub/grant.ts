/** What a verified token grants a session. */
export interface Grant {
  /** The user id as the token gave it (a string or a number): shown to the client (`connected`) and in logs. */
  readonly userId: string | number;
  /**
   * The user id as a subject token (`userToken`): the user's one name wherever it becomes part of a
   * subject, uWS topic, KV key or presence entry. `42` and `"42"` share it; an e-mail becomes `=` + base64url.
   */
  readonly userKey: string;
  /** Site ids (as subject tokens), or `'*'` for every site. */
  readonly sites: ReadonlySet<string> | '*';
  /** The first role in the token (`viewer` when it has none). */
  readonly role: string;
  /** Every role in the token; always holds `role`. */
  readonly roles: ReadonlySet<string>;
  /** Expiry in ms since the Unix epoch, or undefined for tokens without `exp`. */
  readonly expiresAt: number | undefined;
}

/**
 * A grant as token verification makes it. The expiry is kept in whole seconds when it is one (a token's `exp`
 * always is): a small integer, where the milliseconds (~1.8e12) are a 16-byte heap number per connection; the
 * first role is read from the shared roles set, not kept per grant.
 */
export class TokenGrant implements Grant {
  readonly userId: string | number;
  readonly userKey: string;
  readonly sites: ReadonlySet<string> | '*';
  readonly roles: ReadonlySet<string>;
  /** Whole seconds (see secondsOf); undefined: no expiry. */
  readonly #expiry: number | readonly [number] | undefined;

  /** `roles` is not empty: its first is the grant's `role`. */
  constructor(userId: string | number, userKey: string, sites: ReadonlySet<string> | '*', roles: ReadonlySet<string>, expiresAt: number | undefined) {
    this.userId = userId;
    this.userKey = userKey;
    this.sites = sites;
    this.roles = roles;
    this.#expiry = expiresAt === undefined ? undefined : secondsOf(expiresAt);
  }

  get role(): string {
    return this.roles.values().next().value!;
  }

  get expiresAt(): number | undefined {
    const e = this.#expiry;
    return e === undefined ? undefined : typeof e === 'number' ? e * 1000 : e[0];
  }
}

/**
 * Whole non-negative seconds as a small integer (`| 0`: a quotient is a double to V8 even when integral, and
 * one double stored makes the field a heap number in every grant); other times as the milliseconds, boxed.
 */
function secondsOf(ms: number): number | readonly [number] {
  const s = ms / 1000;
  return s >= 0 && s === (s | 0) ? s | 0 : [ms];
}

export function grantsSite(grant: Grant, siteId: string): boolean {
  return grant.sites === '*' || grant.sites.has(siteId);
}

/** Whether any of the token's roles is in `roles`. */
export function hasAnyRole(grant: Grant, roles: readonly string[]): boolean {
  for (const role of roles) if (grant.roles.has(role)) return true;
  return false;
}
