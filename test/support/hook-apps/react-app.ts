/**
 * A tiny React page using the `useWebSocket` example hook: it shows whether it is
 * connected and the id of the last `task:update` of one site. Mounted under
 * StrictMode, which runs effects twice: the hook must leave exactly one connection.
 */
import { createElement as h, StrictMode, useEffect, useState } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { useWebSocket } from '../../../docs/examples/react/use-web-socket.ts';
import type { HookAppProps } from './mount.ts';

function SiteStatus({ url, token, siteId }: HookAppProps) {
  const { client, connected } = useWebSocket(token, { url });
  const [task, setTask] = useState('none');
  useEffect(() => {
    if (client === null) return;
    const onTask = (data: { id: unknown }) => setTask(String(data.id));
    client.on('task:update', onTask);
    client.subscribeSite(siteId).catch(() => {});
    return () => void client.off('task:update', onTask);
  }, [client, siteId]);
  return h('main', null, h('p', { id: 'status' }, connected ? 'connected' : 'disconnected'), h('p', { id: 'task' }, task));
}

let root: Root | undefined;
window.hookApp = {
  mount(props) {
    root = createRoot(document.getElementById('app')!);
    root.render(h(StrictMode, null, h(SiteStatus, props)));
  },
  unmount() {
    root?.unmount();
    root = undefined;
  },
};
