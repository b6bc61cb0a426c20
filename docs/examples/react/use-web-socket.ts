/**
 * The seed's React hook (`useWebSocket`), on HubClient: one self-healing
 * connection per mounted component, closed on unmount. Subscriptions made on
 * `client` survive reconnects (HubClient resumes them from their offsets), so
 * subscribe once per client rather than on every `connected` change.
 *
 * @example
 * function Dashboard({ token }: { token: string }) {
 *   const { client, connected } = useWebSocket(token, { url: 'wss://hub.example.com/ws' });
 *   useEffect(() => {
 *     if (client === null) return;
 *     const onAlarm = (alarm: { title: string }) => notification.warning({ message: alarm.title });
 *     client.on('alarm:new', onAlarm);
 *     client.subscribeSite(1).catch(() => {}); // sent once connected, kept across reconnects
 *     return () => void client.off('alarm:new', onAlarm);
 *   }, [client]);
 *   return <div>{connected ? 'online' : 'offline'}</div>;
 * }
 */
import { useEffect, useState } from 'react';
// In an application: import { HubClient } from 'plant-realtime-hub/client';
import { HubClient, type HubClientOptions } from '../../../protocol/client.ts';

export interface UseWebSocketOptions extends Omit<HubClientOptions, 'token' | 'url'> {
  /** Default `ws://localhost:3000/ws`, as in the seed. */
  readonly url?: string | readonly string[];
}

export interface UseWebSocket {
  /** The connection of this component; null before the first effect and after unmount. */
  readonly client: HubClient | null;
  /** True between the hub's `connected` and the next disconnect. */
  readonly connected: boolean;
}

/** Options other than `url` are read when the connection is made; a new token or url makes a new connection. */
export function useWebSocket(token: string, options: UseWebSocketOptions = {}): UseWebSocket {
  const [client, setClient] = useState<HubClient | null>(null);
  const [connected, setConnected] = useState(false);
  const url = options.url ?? 'ws://localhost:3000/ws';
  const urlKey = typeof url === 'string' ? url : url.join(' ');

  useEffect(() => {
    const c = new HubClient({ ...options, url, token });
    c.on('connected', () => setConnected(true));
    c.on('disconnect', () => setConnected(false));
    // A refused first connection (bad token, origin) rejects; `connected` stays false and 'disconnect' says why.
    c.connect().catch(() => {});
    setClient(c);
    return () => {
      c.close();
      setClient(null);
      setConnected(false);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps -- one connection per token and url
  }, [token, urlKey]);

  return { client, connected };
}
