/**
 * What a recovering Socket.IO client missed, sent in order: from the log for what
 * is older than the recent window, then from the window, paced by the socket's
 * buffer throughout. The rooms are joined (`join`) in the same tick as the last
 * event from the window, so no live event slips between replay and live and none
 * comes twice. Each event carries the position read so far: a client that drops
 * again mid-replay recovers from there.
 */
import { STREAM_KEYS, type StreamKey } from '../protocol/subjects.ts';
import type { LiveEvent } from './live-event.ts';
import { formatPosition, type RecoveryPosition } from './recovery-position.ts';
import { ResumeCancelled } from './replayer.ts';
import type { SocketIoBackend } from './socketio-face.ts';

/** The recovering socket, as the replay sees it. */
export interface ReplayTarget {
  /** The socket is gone: stop. */
  gone(): boolean;
  /** NATS subject filter of what the socket follows in a log, or undefined when it follows nothing there. */
  filter(stream: StreamKey): string | undefined;
  /** Whether an event is for this socket (its subscriptions, grant and roles). */
  matches(event: LiveEvent): boolean;
  send(event: LiveEvent, position: string): void;
  /** A promise while the socket's buffer is too full to send more. */
  pause(): Promise<void> | undefined;
  /** Joins the live rooms; called synchronously after the last replayed event. */
  join(): void;
}

/** How long a recovery waits for this hub's live delivery to reach the client's offset (it may come from a hub further on). */
const CATCH_UP_MS = 5000;

/** Replays everything after `from`, then joins; resolves with the number of events sent. Throws ResumeCancelled if the socket goes. */
export async function replayMissed({ fanOut, replayer }: SocketIoBackend, from: RecoveryPosition, target: ReplayTarget): Promise<number> {
  const cursor = { ...from.offsets };
  let replayed = 0;
  const send = (stream: StreamKey, e: LiveEvent): void => {
    cursor[stream] = e.seq;
    if (!target.matches(e)) return;
    replayed++;
    target.send(e, formatPosition(cursor, fanOut.epochs));
  };
  const deadline = Date.now() + CATCH_UP_MS;
  for (;;) {
    if (target.gone()) throw new ResumeCancelled();
    const behind = STREAM_KEYS.find((s) => target.filter(s) !== undefined && cursor[s] + 1 < fanOut.recent(s).start);
    if (behind !== undefined) {
      // Older than the recent window: from the log.
      const upTo = fanOut.recent(behind).start - 1;
      await replayer.readRange(behind, target.filter(behind)!, cursor[behind], upTo, { each: (e) => send(behind, e), pause: () => target.pause(), cancelled: () => target.gone() });
      cursor[behind] = Math.max(cursor[behind], upTo);
      continue;
    }
    // This hub may lag the one the client came from: joining before it catches up would repeat events.
    if (STREAM_KEYS.some((s) => fanOut.recent(s).last < from.offsets[s]) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
      continue;
    }
    // The window, paced too: when the socket must pause, wait and look again (the window moves on).
    let paused: Promise<void> | undefined;
    window: for (const s of STREAM_KEYS) {
      if (target.filter(s) === undefined) continue;
      for (const e of fanOut.recent(s).since(cursor[s])) {
        send(s, e);
        paused = target.pause();
        if (paused !== undefined) break window;
      }
    }
    if (paused === undefined) {
      // The rest went out without a pause: join in this same tick.
      target.join();
      return replayed;
    }
    await paused;
  }
}
