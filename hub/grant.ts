/** What a verified token grants a session. */
export interface Grant {
  readonly userId: string;
  /** Site ids (as subject tokens), or `'*'` for every site. */
  readonly sites: ReadonlySet<string> | '*';
  readonly role: string;
  /** Expiry in ms since the Unix epoch, or undefined for tokens without `exp`. */
  readonly expiresAt: number | undefined;
}

export function grantsSite(grant: Grant, siteId: string): boolean {
  return grant.sites === '*' || grant.sites.has(siteId);
}
