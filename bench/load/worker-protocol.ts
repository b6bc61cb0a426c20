/**
 * What the main thread and the load workers say to each other. Every request
 * carries an id; the worker answers with the same id.
 */
import type { SequenceTotals } from '../sequence-check.ts';

/** How the clients of a target speak: the hub's msgpack frames (hub and uws-bare), or Socket.IO. */
export type ClientProtocol = 'hub' | 'socketio';

/** Which client speaks Socket.IO: socket.io-client itself, or the bench's lean one (same frames, a fraction of the CPU). */
export type SocketIoClientKind = 'library' | 'lean';

export interface ClientSpec {
  readonly id: number;
  readonly site: number;
  readonly token: string;
  /** Which figures it counts toward: 0 = everyone, 1 = the dropped or slow ones of a scenario. */
  readonly group: number;
}

export interface ConnectRequest {
  readonly type: 'connect';
  readonly protocol: ClientProtocol;
  readonly socketIoClient: SocketIoClientKind;
  readonly host: string;
  readonly port: number;
  readonly clients: readonly ClientSpec[];
  readonly concurrency: number;
  /** This worker's share of the connection rate, per second; 0 = unthrottled. */
  readonly ratePerS: number;
  readonly timeoutMs: number;
  /** On reconnect, subscribe with `{siteId, offset, epoch}` (the hub's resume, issue 3). */
  readonly resume: boolean;
  /** Offer `hub.opt.acks` and ack alarms (hub protocol only). */
  readonly ack: boolean;
}

export type WorkerRequest =
  | ConnectRequest
  | { readonly type: 'received' }
  | { readonly type: 'phase-stats'; readonly phases: readonly number[] }
  /** Drops a group's connections at once (no closing handshake) and reconnects them after 0…jitterMs. */
  | { readonly type: 'drop'; readonly group: number; readonly jitterMs: number }
  | { readonly type: 'stall'; readonly group: number; readonly ms: number }
  | { readonly type: 'finish'; readonly lastSeqBySite: readonly number[]; readonly failedBySite: Readonly<Record<number, readonly number[]>>; readonly alarmEvery: number }
  | { readonly type: 'close' };

export type Request = WorkerRequest & { readonly id: number };

export interface ConnectReport {
  readonly connected: number;
  readonly failed: number;
  readonly failedIds: readonly number[];
  readonly errors: readonly string[];
  /** Attempt start → subscribed, µs (encoded histogram). */
  readonly connectHistogram: string;
  readonly firstStartUs: number;
  readonly lastDoneUs: number;
}

/** Deliveries of one phase to one group of clients. */
export interface PhaseGroupReport {
  readonly phase: number;
  readonly group: number;
  readonly count: number;
  readonly firstUs: number;
  readonly lastUs: number;
  /** append → receipt, µs (encoded histogram). */
  readonly histogram: string;
}

export interface ReconnectReport {
  readonly drops: number;
  readonly reconnected: number;
  readonly failed: number;
  /** Drop → subscribed again, µs. */
  readonly reconnectHistogram: string;
  /** Drop → caught up (no open gap and an event sent after the resubscribe received), µs. */
  readonly caughtUpHistogram: string;
  readonly notCaughtUp: number;
  /** How the server answered a resume: `recovered: true`, `recovered: false`, or without that field (no resume support). */
  readonly recoveredTrue: number;
  readonly recoveredFalse: number;
  readonly recoveredUnknown: number;
}

export interface GroupTotals {
  readonly group: number;
  readonly clients: number;
  readonly totals: SequenceTotals;
  readonly clientsWithLoss: number;
}

export interface FinishReport {
  readonly groups: readonly GroupTotals[];
  /** Up to five clients with the most loss: which client, site and what it saw. */
  readonly worst: readonly { readonly id: number; readonly site: number; readonly totals: SequenceTotals }[];
  /** Close codes of connections the server ended, with counts. */
  readonly serverCloses: Readonly<Record<string, number>>;
  readonly reconnect: ReconnectReport;
  readonly errors: readonly string[];
  /** Frames that were neither events nor replies (e.g. an unknown batch format). */
  readonly otherFrames: number;
  readonly epochs: readonly string[];
}
