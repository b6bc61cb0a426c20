/**
 * A Vue page on the seed's `useWebSocket` composable: once connected it emits
 * `subscribe:site` for site 1 and listens to `alarm:new` and `production:update`,
 * as the seed's React dashboard does.
 */
import { type App, createApp, defineComponent, h, ref, watch } from 'vue';
import type { Socket } from 'socket.io-client';
import type { SeedAppProps } from './seed-app.ts';
import { useWebSocket } from './vue-use-web-socket.ts';

const Dashboard = defineComponent({
  props: { token: { type: String, required: true } },
  setup(props) {
    const { socket, connected } = useWebSocket(props.token) as { socket: { value: Socket | null }; connected: { value: boolean } };
    const alarm = ref('none');
    const production = ref('none');
    watch(
      () => connected.value,
      (isConnected) => {
        const s = socket.value;
        if (!isConnected || s === null) return;
        s.emit('subscribe:site', { siteId: 1 });
        s.off('alarm:new');
        s.off('production:update');
        s.on('alarm:new', (a: { title: string }) => (alarm.value = a.title));
        s.on('production:update', (d: { type: string; batch: { id: number } }) => (production.value = `${d.type} ${d.batch.id}`));
      },
    );
    return () => h('main', [h('p', { id: 'status' }, connected.value ? 'connected' : 'disconnected'), h('p', { id: 'alarm' }, alarm.value), h('p', { id: 'production' }, production.value)]);
  },
});

let app: App | undefined;
window.seedApp = {
  mount(props) {
    app = createApp(Dashboard, { ...props });
    app.mount('#app');
  },
  unmount() {
    app?.unmount();
    app = undefined;
  },
};
