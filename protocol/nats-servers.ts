/**
 * NATS server lists: one URL, a comma-separated list (`NATS_URL=nats://a:4222,nats://b:4222`)
 * or an array. nats.js takes a string as one server, so a list in one string is split here;
 * with every node of a cluster named, a process can start (and reconnect) while any one is up.
 */

/** A server list nobody can connect with: empty, or an entry that is not a NATS URL. */
export class NatsServersError extends TypeError {
  override readonly name = 'NatsServersError';
}

const SCHEMES = new Set(['nats:', 'tls:', 'ws:', 'wss:']);

/**
 * @example
 * natsServers('nats://n1:4222, nats://n2:4222'); // ['nats://n1:4222', 'nats://n2:4222']
 * natsServers(['127.0.0.1:4222']); // ['127.0.0.1:4222']
 */
export function natsServers(servers: string | readonly string[]): string[] {
  const list = (typeof servers === 'string' ? [servers] : servers).flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s.length > 0);
  if (list.length === 0) throw new NatsServersError('no NATS server given');
  for (const s of list) {
    // nats.js accepts `host:port` without a scheme; anything with a scheme must be one NATS speaks.
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(s) ? s : `nats://${s}`;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      throw new NatsServersError(`${JSON.stringify(s)} is not a NATS URL (e.g. nats://127.0.0.1:4222)`);
    }
    if (!SCHEMES.has(url.protocol) || url.hostname === '') throw new NatsServersError(`${JSON.stringify(s)} is not a NATS URL (e.g. nats://127.0.0.1:4222)`);
  }
  return list;
}
