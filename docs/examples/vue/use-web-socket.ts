/**
 * The seed's Vue composable (`useWebSocket`), on HubClient: connects when the
 * component mounts, closes when it unmounts. Subscriptions made on `client`
 * survive reconnects (HubClient resumes them from their offsets).
 *
 * @example
 * const { client, connected } = useWebSocket(token, { url: 'wss://hub.example.com/ws' });
 * watch(client, (c) => {
 *   c?.on('alarm:new', (alarm) => ElNotification.warning(alarm.title));
 *   c?.subscribeSite(1).catch(() => {}); // sent once connected, kept across reconnects
 * });
 */
import { onMounted, onUnmounted, ref, type Ref, type ShallowRef, shallowRef } from 'vue';
// In an application: import { HubClient } from 'plant-realtime-hub/client';
import { HubClient, type HubClientOptions } from '../../../protocol/client.ts';

export interface UseWebSocketOptions extends Omit<HubClientOptions, 'token' | 'url'> {
  /** Default `ws://localhost:3000/ws`, as in the seed. */
  readonly url?: string | readonly string[];
}

export interface UseWebSocket {
  /** The connection of this component; null before mount and after unmount. */
  readonly client: ShallowRef<HubClient | null>;
  /** True between the hub's `connected` and the next disconnect. */
  readonly connected: Ref<boolean>;
}

export function useWebSocket(token: string, options: UseWebSocketOptions = {}): UseWebSocket {
  // shallowRef, not ref: a deep reactive proxy of HubClient would break its #private fields.
  const client = shallowRef<HubClient | null>(null);
  const connected = ref(false);

  onMounted(() => {
    const c = new HubClient({ ...options, url: options.url ?? 'ws://localhost:3000/ws', token });
    c.on('connected', () => {
      connected.value = true;
    });
    c.on('disconnect', () => {
      connected.value = false;
    });
    // A refused first connection (bad token, origin) rejects; `connected` stays false and 'disconnect' says why.
    c.connect().catch(() => {});
    client.value = c;
  });

  onUnmounted(() => {
    client.value?.close();
    client.value = null;
    connected.value = false;
  });

  return { client, connected };
}
