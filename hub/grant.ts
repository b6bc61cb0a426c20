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

export function grantsSite(grant: Grant, siteId: string): boolean {
  return grant.sites === '*' || grant.sites.has(siteId);
}

/** Whether any of the token's roles is in `roles`. */
export function hasAnyRole(grant: Grant, roles: readonly string[]): boolean {
  for (const role of roles) if (grant.roles.has(role)) return true;
  return false;
}
