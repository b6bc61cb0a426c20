/**
 * Pushes `dashboard:update` as the dashboard view changes: at most one per site
 * per interval (the latest view, not one per event), appended to the site log
 * like any event so every hub delivers it as latest-value traffic. The payload
 * is the snapshot with its `offset`; the msg id `dashboard:<site>:<offset>` keeps
 * a retried push from being stored twice.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { buildAppend } from '../protocol/event-append.ts';
import { appendToLog } from '../protocol/log-append.ts';
import type { ViewReader } from './view-reader.ts';

export class DashboardPusher {
  readonly #reader: ViewReader;
  readonly #js: JetStreamClient;
  readonly #ns: string;
  readonly #intervalMs: number;
  readonly #log: Logger;
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #lastPush = new Map<string, number>();
  #stopped = false;

  constructor(reader: ViewReader, js: JetStreamClient, ns: string, intervalMs: number, log: Logger) {
    this.#reader = reader;
    this.#js = js;
    this.#ns = ns;
    this.#intervalMs = intervalMs;
    this.#log = log;
  }

  /** The view of these sites changed: push each once its interval has passed. */
  touch(sites: Iterable<string>): void {
    if (this.#stopped) return;
    const now = Date.now();
    for (const site of sites) {
      if (this.#timers.has(site)) continue;
      const wait = Math.max(0, (this.#lastPush.get(site) ?? 0) + this.#intervalMs - now);
      const timer = setTimeout(() => void this.#push(site), wait);
      timer.unref?.();
      this.#timers.set(site, timer);
    }
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
  }

  async #push(site: string): Promise<void> {
    // Cleared first: a change committed while this push reads gets a push of its own.
    this.#timers.delete(site);
    this.#lastPush.set(site, Date.now());
    try {
      const snapshot = await this.#reader.dashboard(site);
      const append = buildAppend(this.#ns, { event: 'dashboard:update', siteId: site, data: snapshot });
      await appendToLog(this.#js, append, `dashboard:${site}:${snapshot.offset}`, { derived: true });
    } catch (e) {
      // Latest-value traffic: try again after the interval, with the view as it is then.
      this.#log.debug({ site, err: (e as Error).message }, 'dashboard push failed; retrying');
      this.touch([site]);
    }
  }
}
