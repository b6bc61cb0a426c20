// The seed's React integration (shared/seed, "React集成"), verbatim: only a hub
// URL differs in a real deployment, and the test swaps it in the bundle. Not
// type-checked: it is the seed's code as its users have it.
// @ts-nocheck
import { useEffect, useState } from 'react';
import { io, Socket } from 'socket.io-client';

export function useWebSocket(token: string) {
  const [socket, setSocket] = useState<Socket | null>(null);
  const [connected, setConnected] = useState(false);

  useEffect(() => {
    const newSocket = io('ws://localhost:3000/ws', {
      auth: { token }
    });

    newSocket.on('connected', () => {
      setConnected(true);
      console.log('WebSocket连接成功');
    });

    newSocket.on('disconnect', () => {
      setConnected(false);
      console.log('WebSocket断开连接');
    });

    setSocket(newSocket);

    return () => {
      newSocket.close();
    };
  }, [token]);

  return { socket, connected };
}
