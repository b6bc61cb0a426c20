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

/** A grant's sites and roles, one object shared by the grants with the same (see token-claims' sharedAccess). */
export interface Access {
  readonly sites: ReadonlySet<string> | '*';
  /** Not empty: its first is the grant's `role`. */
  readonly roles: ReadonlySet<string>;
}

/**
 * A grant as token verification makes it, in three slots: the user (its key, or the id and key when the token
 * spelled the id otherwise), the shared sites and roles, and the expiry in whole seconds when it is one (a
 * token's `exp` always is): small integers and shared objects, where five fields and a 16-byte heap number
 * for the milliseconds (~1.8e12) cost every connection 40 bytes more.
 */
export class TokenGrant implements Grant {
  /** The user key when the id is that same string (most tokens), else `[userId, userKey]`. */
  readonly #user: string | readonly [string | number, string];
  readonly #access: Access;
  /** Whole seconds (see secondsOf); undefined: no expiry. */
  readonly #expiry: number | readonly [number] | undefined;

  constructor(userId: string | number, userKey: string, access: Access, expiresAt: number | undefined) {
    this.#user = userId === userKey ? userKey : Object.freeze([userId, userKey] as const);
    this.#access = access;
    this.#expiry = expiresAt === undefined ? undefined : secondsOf(expiresAt);
  }

  get userId(): string | number {
    const u = this.#user;
    return typeof u === 'string' ? u : u[0];
  }

  get userKey(): string {
    const u = this.#user;
    return typeof u === 'string' ? u : u[1];
  }

  get sites(): ReadonlySet<string> | '*' {
    return this.#access.sites;
  }

  get roles(): ReadonlySet<string> {
    return this.#access.roles;
  }

  get role(): string {
    return this.#access.roles.values().next().value!;
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
