/**
 * A tiny Vue page using the `useWebSocket` example composable: it shows whether it
 * is connected and the id of the last `task:update` of one site.
 */
import { type App, createApp, defineComponent, h, type PropType, ref, watch } from 'vue';
import { useWebSocket } from '../../../docs/examples/vue/use-web-socket.ts';
import type { HookAppProps } from './mount.ts';

const SiteStatus = defineComponent({
  props: {
    url: { type: String, required: true },
    token: { type: String, required: true },
    siteId: { type: Number as PropType<number>, required: true },
  },
  setup(props) {
    const { client, connected } = useWebSocket(props.token, { url: props.url });
    const task = ref('none');
    watch(client, (c, _previous, onCleanup) => {
      if (c === null) return;
      const onTask = (data: { id: unknown }) => {
        task.value = String(data.id);
      };
      c.on('task:update', onTask);
      c.subscribeSite(props.siteId).catch(() => {});
      onCleanup(() => c.off('task:update', onTask));
    });
    return () => h('main', [h('p', { id: 'status' }, connected.value ? 'connected' : 'disconnected'), h('p', { id: 'task' }, task.value)]);
  },
});

let app: App | undefined;
window.hookApp = {
  mount(props) {
    app = createApp(SiteStatus, { ...props });
    app.mount('#app');
  },
  unmount() {
    app?.unmount();
    app = undefined;
  },
};
