/**
 * What a verified token's claims grant. The claim names come from configuration
 * (`HUB_JWT_*_CLAIM`), so the hub takes its own tokens (`{sub, sites, role}`) and
 * the seed's auth service's (`{userId: 42, role: 'admin', siteId: 3}`) alike.
 */
import type { JWTPayload } from 'jose';
import { idToken, MAX_USER_ID_LENGTH, userToken } from '../protocol/subjects.ts';
import { AuthError } from './auth-error.ts';
import type { AuthConfig } from './config.ts';
import { type Access, type Grant, TokenGrant } from './grant.ts';

export type TokenClaims = Pick<AuthConfig, 'userClaims' | 'sitesClaim' | 'siteClaim' | 'roleClaims' | 'allSitesRoles' | 'maxTokenLifetimeMs'>;

/** A token without any role has this one, as before claims were configurable. */
const DEFAULT_ROLE = 'viewer';

/** The grant of a verified payload, or AuthError with a reason fit for the client. `now`: when it is presented. */
export function grantOf(payload: JWTPayload, claims: TokenClaims, now = Date.now()): Grant {
  const { userId, userKey } = userOf(payload, claims.userClaims);
  const roles = rolesOf(payload, claims.roleClaims);
  const role = roles.values().next().value ?? DEFAULT_ROLE;
  if (roles.size === 0) roles.add(role);
  let sites = sitesOf(payload, claims);
  if (sites !== '*' && claims.allSitesRoles.some((r) => roles.has(r))) sites = '*';
  return new TokenGrant(userId, userKey, sharedAccess(sites === '*' ? sites : sharedSet(sites), sharedSet(roles)), expiryOf(payload, claims.maxTokenLifetimeMs, now));
}

/** Distinct role and site sets kept for sharing at most; past it a grant keeps its own (still correct). */
const MAX_SHARED_SETS = 10_000;
const sharedSets = new Map<string, ReadonlySet<string>>();

/**
 * The one set with these members (in this order), shared by every grant that has them: thousands of sessions of a
 * site's viewers hold one `{7}` and one `{viewer}`, not a pair of sets each (~300 bytes a connection).
 */
function sharedSet(members: Set<string>): ReadonlySet<string> {
  // In order: a grant's `role` is its first role.
  const key = JSON.stringify([...members]);
  const known = sharedSets.get(key);
  if (known !== undefined) return known;
  if (sharedSets.size < MAX_SHARED_SETS) sharedSets.set(key, members);
  return members;
}

/** Shared site sets' and role sets' pairs, by their sets (each shared already, or a grant's own past MAX_SHARED_SETS). */
const sharedAccesses = new Map<ReadonlySet<string> | '*', Map<ReadonlySet<string>, Access>>();
let sharedAccessCount = 0;

/** The one `{sites, roles}` of these sets, shared by every grant that has them: a slot less per grant. */
function sharedAccess(sites: ReadonlySet<string> | '*', roles: ReadonlySet<string>): Access {
  let bySites = sharedAccesses.get(sites);
  const known = bySites?.get(roles);
  if (known !== undefined) return known;
  const access: Access = Object.freeze({ sites, roles });
  if (sharedAccessCount < MAX_SHARED_SETS) {
    if (bySites === undefined) sharedAccesses.set(sites, (bySites = new Map()));
    bySites.set(roles, access);
    sharedAccessCount++;
  }
  return access;
}

/**
 * When the grant ends: at `exp`, or for a token without one, `maxLifetimeMs` after its `iat` (after `now`
 * without `iat`), so a session on such a token is warned and closed like any other and cannot last forever.
 */
function expiryOf(payload: JWTPayload, maxLifetimeMs: number, now: number): number {
  if (payload.exp !== undefined) return payload.exp * 1000;
  if (maxLifetimeMs === 0) throw new AuthError('token has no exp claim (HUB_MAX_TOKEN_LIFETIME_MS=0 refuses such tokens)');
  const expiresAt = (typeof payload.iat === 'number' ? payload.iat * 1000 : now) + maxLifetimeMs;
  if (expiresAt <= now) throw new AuthError('token expired (it has no exp; tokens live at most HUB_MAX_TOKEN_LIFETIME_MS after iat)');
  return expiresAt;
}

/** Own properties only: a claim named `constructor` must not find Object's. */
function claim(payload: JWTPayload, name: string): unknown {
  return Object.hasOwn(payload, name) ? payload[name] : undefined;
}

/** The first user claim present decides: an unusable value is refused, not skipped, so it cannot be shadowed silently. */
function userOf(payload: JWTPayload, names: readonly string[]): { userId: string | number; userKey: string } {
  for (const name of names) {
    const raw = claim(payload, name);
    if (raw === undefined || raw === null) continue;
    const userKey = userToken(raw);
    if (userKey === undefined) throw new AuthError(`token ${name} is not a usable user id (a string of 1 to ${MAX_USER_ID_LENGTH} characters, or a non-negative integer)`);
    return { userId: raw as string | number, userKey };
  }
  throw new AuthError(`token has no user id (looked for ${names.join(', ')})`);
}

/** Strings and lists of strings; other values are ignored, as a non-string `role` always was. */
function rolesOf(payload: JWTPayload, names: readonly string[]): Set<string> {
  const roles = new Set<string>();
  for (const name of names) {
    const raw = claim(payload, name);
    if (typeof raw === 'string') roles.add(raw);
    else if (Array.isArray(raw)) for (const r of raw) if (typeof r === 'string') roles.add(r);
  }
  return roles;
}

function sitesOf(payload: JWTPayload, claims: TokenClaims): Set<string> | '*' {
  const list = claim(payload, claims.sitesClaim);
  let sites: Set<string> | '*';
  if (list === '*') sites = '*';
  else if (Array.isArray(list)) sites = new Set(list.map((s) => siteIdOf(s, () => `token ${claims.sitesClaim} contains an invalid site id ${JSON.stringify(s)}`)));
  else if (list === undefined || list === null) sites = new Set();
  else throw new AuthError(`token ${claims.sitesClaim} must be a list of site ids or "*"`);
  // A user row's nullable site (the seed's admins have none) is absent, not an error.
  const one = claim(payload, claims.siteClaim);
  if (one !== undefined && one !== null) {
    const site = siteIdOf(one, () => `token ${claims.siteClaim} ${JSON.stringify(one)} is not a site id`);
    if (sites !== '*') sites.add(site);
  }
  return sites;
}

function siteIdOf(raw: unknown, reason: () => string): string {
  const id = idToken(raw);
  if (id === undefined) throw new AuthError(reason());
  return id;
}
