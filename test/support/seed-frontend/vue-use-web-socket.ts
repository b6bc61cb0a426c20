// The seed's Vue integration (shared/seed, "Vue集成"), verbatim: only a hub URL
// differs in a real deployment, and the test swaps it in the bundle. Not
// type-checked: it is the seed's code as its users have it (`ref(null)` holds a Socket).
// @ts-nocheck
import { ref, onMounted, onUnmounted } from 'vue';
import { io } from 'socket.io-client';

export function useWebSocket(token: string) {
  const socket = ref(null);
  const connected = ref(false);

  onMounted(() => {
    socket.value = io('ws://localhost:3000/ws', {
      auth: { token }
    });

    socket.value.on('connected', () => {
      connected.value = true;
    });

    socket.value.on('disconnect', () => {
      connected.value = false;
    });
  });

  onUnmounted(() => {
    if (socket.value) {
      socket.value.close();
    }
  });

  return { socket, connected };
}
