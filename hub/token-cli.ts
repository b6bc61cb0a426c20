/**
 * `npm run token -- --sub alice --sites 1,2 --role operator [--ttl 3600]`:
 * mints an HS256 access token with HUB_JWT_SECRET, or the development secret
 * the hub made under the data folder. For trying the hub; production tokens
 * come from your identity provider.
 */
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { loadOrCreateDevSecret } from './dev-secrets.ts';

const { values } = parseArgs({
  options: {
    sub: { type: 'string', default: 'demo-user' },
    sites: { type: 'string', default: '*' },
    role: { type: 'string', default: 'operator' },
    ttl: { type: 'string', default: '86400' },
    aud: { type: 'string' },
  },
});
const secret = process.env.HUB_JWT_SECRET ?? loadOrCreateDevSecret(process.env.HUB_DATA_DIR ?? 'data');
const sites = values.sites === '*' ? '*' : values.sites.split(',').map((s) => (/^\d+$/.test(s) ? Number(s) : s));
const ttl = Number(values.ttl);
if (!Number.isInteger(ttl) || ttl <= 0) {
  console.error('--ttl must be a positive number of seconds');
  process.exit(2);
}
const aud = values.aud ?? process.env.HUB_JWT_AUDIENCE;
let jwt = new SignJWT({ sites, role: values.role }).setProtectedHeader({ alg: 'HS256' }).setSubject(values.sub).setIssuedAt().setExpirationTime(`${ttl}s`);
if (aud !== undefined) jwt = jwt.setAudience(aud);
if (process.env.HUB_JWT_ISSUER !== undefined) jwt = jwt.setIssuer(process.env.HUB_JWT_ISSUER);
console.log(await jwt.sign(new TextEncoder().encode(secret)));
