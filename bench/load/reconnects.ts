/**
 * A bench client's reconnection state: the outage it is in, if any, and how many
 * times it has tried to come back. Shared by every client protocol, so each
 * reconnects the same way: after a delay, backing off, at most MAX_RECONNECTS
 * times per run, after which the outage counts as given up.
 */
import { type ClientContext, MAX_RECONNECTS, type Outage } from './bench-client.ts';

export class Reconnects {
  outage: Outage | undefined;
  count = 0;

  /** Calls `connect` after `afterMs`; a failed attempt tries again later while this outage lasts. */
  schedule(ctx: ClientContext, clientId: number, connect: () => Promise<void>, afterMs: number): void {
    const outage = this.outage!;
    if (++this.count > MAX_RECONNECTS) {
      ctx.outages.gaveUp(outage);
      this.outage = undefined;
      return;
    }
    setTimeout(() => {
      if (!ctx.running) return;
      connect().catch((e: Error) => {
        ctx.error(`reconnect of client ${clientId}: ${e.message}`);
        if (this.outage === outage) this.schedule(ctx, clientId, connect, 200 * this.count);
      });
    }, afterMs);
  }
}
