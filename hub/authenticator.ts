/**
 * Verifies access tokens with jose: HS256 with a shared secret, or asymmetric
 * keys from a JWKS URL or a PEM public key. Never accepts `alg: none`.
 */
import { createRemoteJWKSet, importSPKI, type JWTPayload, type JWTVerifyGetKey, jwtVerify, type CryptoKey } from 'jose';
import { type Clock, systemClock } from './clock.ts';
import { AuthError } from './auth-error.ts';
import type { AuthConfig } from './config.ts';
import type { Grant } from './grant.ts';
import { grantOf, type TokenClaims } from './token-claims.ts';

export { AuthError };

/** Tokens larger than this are refused before any parsing. */
export const MAX_TOKEN_BYTES = 8192;

export class Authenticator {
  readonly #key: Uint8Array | CryptoKey | JWTVerifyGetKey;
  readonly #algorithms: string[];
  readonly #audience: string | undefined;
  readonly #issuer: string | undefined;
  readonly #claims: TokenClaims;
  readonly #clock: Clock;

  private constructor(key: Uint8Array | CryptoKey | JWTVerifyGetKey, algorithms: string[], config: AuthConfig, clock: Clock) {
    this.#key = key;
    this.#clock = clock;
    this.#algorithms = algorithms;
    this.#audience = config.audience;
    this.#issuer = config.issuer;
    this.#claims = config;
  }

  /** `clock`: what "now" is for `exp` and `nbf` (tests move their own). */
  static async create(config: AuthConfig, clock: Clock = systemClock): Promise<Authenticator> {
    if (config.jwksUrl !== undefined) return new Authenticator(createRemoteJWKSet(new URL(config.jwksUrl)), [...config.algorithms], config, clock);
    if (config.publicKey !== undefined) {
      // A PEM key fits one algorithm family (an RSA key cannot verify ES256): accept the first configured algorithm it imports for.
      for (const alg of config.algorithms) {
        const key = await importSPKI(config.publicKey, alg).catch(() => undefined);
        if (key !== undefined) return new Authenticator(key, [alg], config, clock);
      }
      throw new AuthError(`HUB_JWT_PUBLIC_KEY is not an SPKI PEM public key for any of HUB_JWT_ALGORITHMS (${config.algorithms.join(', ')})`);
    }
    if (config.secret !== undefined) {
      // Imported once: given the raw bytes, jose imports a key on every verification (every connect and refresh).
      const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(config.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
      return new Authenticator(key, ['HS256'], config, clock);
    }
    throw new AuthError('no token verification configured: set HUB_JWT_SECRET, HUB_JWKS_URL or HUB_JWT_PUBLIC_KEY');
  }

  /** Verifies a token and returns what it grants, or throws AuthError with a reason fit for the client. */
  async verify(token: string | undefined): Promise<Grant> {
    if (token === undefined || token === '') throw new AuthError('no token');
    if (token.length > MAX_TOKEN_BYTES) throw new AuthError(`token larger than ${MAX_TOKEN_BYTES} bytes`);
    let payload: JWTPayload;
    try {
      // The algorithm list is fixed by configuration, so a token cannot pick `none` or switch HS/RS.
      ({ payload } = await jwtVerify(token, this.#key as Uint8Array, { algorithms: this.#algorithms, audience: this.#audience, issuer: this.#issuer, currentDate: new Date(this.#clock.now()) }));
    } catch (e) {
      throw new AuthError(reasonOf(e), { cause: e });
    }
    return grantOf(payload, this.#claims, this.#clock.now());
  }
}

function reasonOf(e: unknown): string {
  const code = (e as { code?: string }).code;
  const claim = (e as { claim?: string }).claim;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'token expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return claim === 'aud' ? 'token is for another audience' : claim === 'iss' ? 'token from another issuer' : claim === 'nbf' ? 'token not yet valid' : `token claim ${claim} invalid`;
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'bad token signature';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'token algorithm not allowed';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'no key matches the token';
    case 'ERR_JWKS_TIMEOUT':
    case 'ERR_JOSE_GENERIC':
      return 'token keys unavailable';
    default:
      return 'malformed token';
  }
}
