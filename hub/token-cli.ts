/**
 * `npm run token -- --sub alice --sites 1,2 --role operator [--ttl 3600]`:
 * mints an HS256 access token with HUB_JWT_SECRET, or the development secret
 * the hub made under the data folder. For trying the hub; production tokens
 * come from your identity provider.
 */
import { SignJWT } from 'jose';
import { CommandLine } from '../protocol/cli/index.ts';
import { loadOrCreateDevSecret } from './dev-secrets.ts';

const cli = new CommandLine({
  name: 'npm run token',
  usage: `usage: npm run token -- [--sub <user id>] [--sites 1,2|'*'] [--role <role>] [--ttl <seconds>] [--aud <audience>]`,
  details: `Prints an HS256 access token signed with HUB_JWT_SECRET, or the development
secret under HUB_DATA_DIR (default data/). For trying the hub; production
tokens come from your identity provider.

  --sub <user id>     the token's subject (default demo-user)
  --sites <list>      comma-separated site ids, or '*' for every site (default '*')
  --role <role>       e.g. operator, supervisor, admin (default operator)
  --ttl <seconds>     lifetime (default 86400)
  --aud <audience>    its aud claim (default HUB_JWT_AUDIENCE, if set)
  -h, --help          this text`,
  options: {
    sub: { type: 'string', default: 'demo-user' },
    sites: { type: 'string', default: '*' },
    role: { type: 'string', default: 'operator' },
    ttl: { type: 'string', default: '86400' },
    aud: { type: 'string' },
  },
});
const { values } = cli.parse();
const ttl = Number(values.ttl);
if (!Number.isInteger(ttl) || ttl <= 0) cli.fail(`--ttl ${JSON.stringify(values.ttl)} must be a positive whole number of seconds`);
const secret = process.env.HUB_JWT_SECRET ?? loadOrCreateDevSecret(process.env.HUB_DATA_DIR ?? 'data');
const sites = values.sites === '*' ? '*' : values.sites.split(',').map((s) => (/^\d+$/.test(s) ? Number(s) : s));
const aud = values.aud ?? process.env.HUB_JWT_AUDIENCE;
let jwt = new SignJWT({ sites, role: values.role }).setProtectedHeader({ alg: 'HS256' }).setSubject(values.sub).setIssuedAt().setExpirationTime(`${ttl}s`);
if (aud !== undefined) jwt = jwt.setAudience(aud);
if (process.env.HUB_JWT_ISSUER !== undefined) jwt = jwt.setIssuer(process.env.HUB_JWT_ISSUER);
console.log(await jwt.sign(new TextEncoder().encode(secret)));
