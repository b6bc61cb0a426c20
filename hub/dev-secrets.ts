/**
 * Development defaults: with no key configured, a random HS256 secret is made
 * once under the data folder, so `npm start` and `npm run token` work on a fresh
 * machine. Production sets HUB_JWT_SECRET, HUB_JWKS_URL or HUB_JWT_PUBLIC_KEY.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function devSecretPath(dataDir: string): string {
  return join(dataDir, 'dev-jwt-secret');
}

/** Reads the dev secret, creating it (readable by this user only) if missing. */
export function loadOrCreateDevSecret(dataDir: string): string {
  const path = devSecretPath(dataDir);
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(path, secret + '\n', { mode: 0o600 });
  return secret;
}
