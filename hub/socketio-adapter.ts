/**
 * The Socket.IO adapter of the hub's face. Two jobs:
 * - Connection state recovery answered from the log, not from memory: a client's
 *   `{pid, offset}` is accepted when its session record exists and the logs still
 *   hold everything after its offset (same epochs, nothing aged out), on any hub
 *   and after any outage within HUB_SOCKETIO_RECOVERY_MS. The missed events are
 *   then replayed by the face after the socket has passed authentication, never
 *   written before it (socket.io would send `missedPackets` before the middleware runs).
 * - Room broadcasts published through this hub's own uWS app, encoded once.
 *   socket.io's uWS patch publishes through whichever app was attached last in the
 *   process, which is wrong with several hubs in one process (tests); the logic is
 *   the same: WebSocket clients through the topic in C++, long-polling ones per socket.
 */
import { randomBytes } from 'node:crypto';
import { Adapter, type BroadcastOptions, type Session } from 'socket.io-adapter';
import type { TemplatedApp } from 'uWebSockets.js';
import { STREAM_KEYS } from '../protocol/subjects.ts';
import { parsePosition, type RecoveryPosition } from './recovery-position.ts';
import type { RecoveryRecord } from './recovery-sessions.ts';

/** What a restore hands to the face through `socket.data`. */
export interface PendingRestore {
  readonly record: RecoveryRecord;
  readonly from: RecoveryPosition;
}

/** Where the logs stand: their epochs, and the first offset each still holds. */
export interface LogsState {
  readonly epochs: Readonly<Record<string, string>>;
  readonly first: Readonly<Record<string, number>>;
}

/** The face's side of recovery: where the logs stand, and the stored sessions. */
export interface RecoverySource {
  /** Where the logs stand, or undefined while the hub is not connected to NATS. */
  logs(): Promise<LogsState | undefined>;
  record(pid: string): Promise<RecoveryRecord | undefined>;
}

/** socket.io's encoder and engine write, which its typings keep private. */
interface Encoder {
  encode(packet: unknown): (string | Buffer)[];
}
interface EngineSocket {
  readonly conn: { readonly transport: { readonly name: string } };
  readonly client: { writeToEngine(packets: (string | Buffer)[], opts: object): void };
}

const SEPARATOR = '\x1f';

/**
 * An adapter class bound to one hub's app and recovery source (socket.io constructs adapters itself, per namespace).
 * `published(bytes)`: after each broadcast through a topic, the bytes every member's buffer may have grown by.
 */
export function hubAdapter(app: TemplatedApp, source: RecoverySource, published: (bytes: number) => void): typeof Adapter {
  return class HubAdapter extends Adapter {
    /** Sockets still on HTTP long-polling: the only ones a broadcast must write to one by one. */
    readonly #polling = new Set<string>();

    /** Called by the face for each new socket: long-polling until it upgrades. */
    trackTransport(id: string, socket: { conn: { transport: { name: string }; once(e: 'upgrade', f: () => void): void } }): void {
      if (socket.conn.transport.name === 'websocket') return;
      this.#polling.add(id);
      socket.conn.once('upgrade', () => this.#polling.delete(id));
    }

    override delAll(id: string): void {
      this.#polling.delete(id);
      super.delAll(id);
    }

    override broadcast(packet: { nsp?: string }, opts: BroadcastOptions): void {
      if (opts.rooms.size > 1 || (opts.except?.size ?? 0) > 0) return super.broadcast(packet, opts); // rare (alarms to several rooms): socket.io dedups per socket
      packet.nsp = this.nsp.name;
      // Encoded once for every recipient.
      const encoded = (this as unknown as { encoder: Encoder }).encoder.encode(packet);
      const room: string | undefined = opts.rooms.values().next().value;
      const topic = room === undefined ? this.nsp.name : `${this.nsp.name}${SEPARATOR}${room}`;
      let bytes = 0;
      for (const p of encoded) {
        // '4' is the Engine.IO message type; binary attachments go as they are.
        if (typeof p === 'string') app.publish(topic, `4${p}`, false);
        else app.publish(topic, p, true);
        bytes += typeof p === 'string' ? 1 + p.length * 3 : p.byteLength; // UTF-8 bytes, at most
      }
      if (this.#polling.size > 0) this.#writePolling(encoded, room, opts);
      // Last: what the face does with it may close sockets, which leave their rooms.
      published(bytes);
    }

    #writePolling(encoded: (string | Buffer)[], room: string | undefined, opts: BroadcastOptions): void {
      const members = room === undefined ? undefined : this.rooms.get(room);
      const flags = opts.flags ?? {};
      for (const id of this.#polling) {
        if (room !== undefined && members?.has(id) !== true) continue;
        const socket = this.nsp.sockets.get(id) as EngineSocket | undefined;
        socket?.client.writeToEngine(encoded, { preEncoded: true, volatile: flags.volatile, compress: flags.compress });
      }
    }

    override async restoreSession(pid: string, offset: string): Promise<Session> {
      const from = parsePosition(offset);
      if (from === undefined) return null as unknown as Session;
      const logs = await source.logs();
      if (logs === undefined) return null as unknown as Session;
      for (const key of STREAM_KEYS) {
        // A recreated log (other epoch) or events aged out of retention: the client must refetch state.
        if (logs.epochs[key] !== from.epochs[key] || from.offsets[key] + 1 < (logs.first[key] ?? 0)) return null as unknown as Session;
      }
      const record = await source.record(pid);
      if (record === undefined) return null as unknown as Session;
      const restore: PendingRestore = { record, from };
      // A fresh socket id: the old socket may still linger on some hub until its ping times out.
      return { sid: randomBytes(15).toString('base64url'), pid, rooms: [], data: { restore }, missedPackets: [] };
    }
  };
}
