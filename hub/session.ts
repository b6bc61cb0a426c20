/**
 * One WebSocket connection: who it is (the token's grant), what it subscribed to,
 * and the uWS topics that follow from that. Permissions are applied here, when
 * topics are joined, never per delivered message.
 */
import type { WebSocket } from 'uWebSockets.js';
import { encodeFrame, type Frame, type WireFormat } from '../protocol/codec.ts';
import { topics } from '../protocol/subjects.ts';
import { type Grant, grantsSite } from './grant.ts';

/** What uWS keeps per socket: the verified grant (then the session), or why the upgrade was refused. */
export interface SocketData {
  readonly format: WireFormat;
  readonly grant?: Grant;
  session?: Session;
  refusal?: { readonly code: number; readonly reason: string };
}

/** JSON sockets join `j:`-prefixed topics: they need other bytes than msgpack sockets. */
export function topicFor(format: WireFormat, topic: string): string {
  return format === 'json' ? `j:${topic}` : topic;
}

export class Session {
  readonly id: string;
  readonly grant: Grant;
  readonly format: WireFormat;
  readonly #ws: WebSocket<SocketData>;
  /** Sites subscribed with `subscribe:site`. */
  readonly sites = new Set<string>();
  alarms = false;
  notifications = false;
  lastSeen = Date.now();
  badFrames = 0;
  closed = false;
  #joined = new Set<string>();

  constructor(id: string, grant: Grant, format: WireFormat, ws: WebSocket<SocketData>) {
    this.id = id;
    this.grant = grant;
    this.format = format;
    this.#ws = ws;
  }

  /** Sends a control frame (reply, error) in this socket's format. */
  send(frame: Frame): void {
    if (this.closed) return;
    const bytes = encodeFrame(this.format, frame);
    this.#ws.send(bytes, typeof bytes !== 'string');
  }

  /** Closes with a documented close code. */
  end(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.#ws.end(code, reason);
  }

  /**
   * Brings the socket's topics in line with its subscriptions. A socket is never
   * in both `alarm/*` and a `site/<id>/alarm`, so no alarm arrives twice.
   */
  syncTopics(): void {
    const wanted = new Set<string>([topics.user(this.grant.userId), topics.global('notification'), topics.global('system')]);
    for (const site of this.sites) wanted.add(topics.siteData(site));
    if (this.alarms && this.grant.sites === '*') wanted.add(topics.allAlarms);
    else {
      const alarmSites = this.alarms && this.grant.sites !== '*' ? new Set([...this.grant.sites, ...this.sites]) : this.sites;
      for (const site of alarmSites) if (grantsSite(this.grant, site)) wanted.add(topics.siteAlarms(site));
    }
    for (const t of this.#joined) if (!wanted.has(t)) this.#ws.unsubscribe(topicFor(this.format, t));
    for (const t of wanted) if (!this.#joined.has(t)) this.#ws.subscribe(topicFor(this.format, t));
    this.#joined = wanted;
  }
}
