/**
 * The seed's React `Dashboard` usage, as written there: once connected it emits
 * `subscribe:site` for site 1 and listens to `alarm:new` and `production:update`
 * (rendering what it gets instead of the seed's antd notification).
 */
import { createElement as h, useEffect, useState } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import type { SeedAppProps } from './seed-app.ts';
import { useWebSocket } from './react-use-web-socket.ts';

function Dashboard({ token }: SeedAppProps) {
  const { socket, connected } = useWebSocket(token);
  const [alarm, setAlarm] = useState('none');
  const [production, setProduction] = useState('none');

  useEffect(() => {
    if (!socket || !connected) return;

    // 订阅站点数据
    socket.emit('subscribe:site', { siteId: 1 });

    // 监听告警
    socket.on('alarm:new', (alarm: { title: string }) => {
      setAlarm(alarm.title);
    });

    // 监听生产更新
    socket.on('production:update', (data: { type: string; batch: { id: number } }) => {
      setProduction(`${data.type} ${data.batch.id}`);
    });

    return () => {
      socket.off('alarm:new');
      socket.off('production:update');
    };
  }, [socket, connected]);

  return h('main', null, h('p', { id: 'status' }, connected ? 'connected' : 'disconnected'), h('p', { id: 'alarm' }, alarm), h('p', { id: 'production' }, production));
}

let root: Root | undefined;
window.seedApp = {
  mount(props) {
    root = createRoot(document.getElementById('app')!);
    root.render(h(Dashboard, props));
  },
  unmount() {
    root?.unmount();
    root = undefined;
  },
};
