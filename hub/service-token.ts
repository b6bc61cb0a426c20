/**
 * The service token (`HUB_SERVICE_TOKEN`) that backend services present on the
 * HTTP routes. Compared as SHA-256 digests in constant time, so the time a
 * comparison takes tells nothing about the token byte by byte.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export class ServiceToken {
  readonly #digest: Buffer | undefined;

  constructor(token: string | undefined) {
    this.#digest = token === undefined ? undefined : sha256(token);
  }

  /** Whether a service token is configured at all (ingest is off without one). */
  get configured(): boolean {
    return this.#digest !== undefined;
  }

  /**
   * Whether `presented` is the service token; false when none is configured.
   * @example
   * if (serviceToken.matches(bearerToken(authorization))) caller = { service: true };
   */
  matches(presented: string | undefined): boolean {
    return presented !== undefined && this.#digest !== undefined && timingSafeEqual(sha256(presented), this.#digest);
  }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
