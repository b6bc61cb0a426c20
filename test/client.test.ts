/** HubClient before any hub is involved: what it does when it cannot even open a socket. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HubClient } from '../protocol/client.ts';

describe('HubClient.connect without a WebSocket implementation', () => {
  it('rejects at once, saying to pass { WebSocket } from the ws package, instead of waiting forever', { timeout: 5000 }, async () => {
    // Given a runtime with no global WebSocket (Node 20; later Nodes have one, so hide it) and no option
    const g = globalThis as { WebSocket?: unknown };
    const saved = Object.getOwnPropertyDescriptor(g, 'WebSocket');
    delete g.WebSocket;
    try {
      const client = new HubClient({ url: 'ws://127.0.0.1:9/ws', token: 't' });
      const started = Date.now();
      // When it connects, then it rejects with a message naming the fix
      await assert.rejects(client.connect(), (e: Error) => {
        assert.equal(e.name, 'TypeError');
        assert.match(e.message, /no WebSocket implementation/);
        assert.match(e.message, /import \{ WebSocket \} from 'ws'/);
        return true;
      });
      assert.ok(Date.now() - started < 100, 'without trying to connect first');
      assert.equal(client.connected, false);
    } finally {
      if (saved !== undefined) Object.defineProperty(g, 'WebSocket', saved);
    }
  });
});
