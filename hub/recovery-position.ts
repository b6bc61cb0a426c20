/**
 * The recovery offset a Socket.IO client holds (socket.io-client keeps the last
 * string argument of each event and sends it back when it reconnects): one
 * position per log, plus the logs' epochs. Each component means "every event of
 * this log up to here that the socket was entitled to has been sent to it", so a
 * recovery replays each log from just after its component, on any hub.
 *
 * Text form: `<site>.<user>.<global>@<siteEpoch>.<userEpoch>.<globalEpoch>`.
 */
import { STREAM_KEYS, type StreamKey } from '../protocol/subjects.ts';

export type Positions = Record<StreamKey, number>;

export interface RecoveryPosition {
  readonly offsets: Readonly<Positions>;
  readonly epochs: Readonly<Record<StreamKey, string>>;
}

const FORMAT = /^(\d{1,16})\.(\d{1,16})\.(\d{1,16})@([0-9a-z]{1,16})\.([0-9a-z]{1,16})\.([0-9a-z]{1,16})$/;

export function formatPosition(offsets: Readonly<Positions>, epochs: Readonly<Record<StreamKey, string>>): string {
  return `${offsets.site}.${offsets.user}.${offsets.global}@${epochs.site}.${epochs.user}.${epochs.global}`;
}

/** The position in `text`, or undefined for anything that is not one (a client may send any string). */
export function parsePosition(text: unknown): RecoveryPosition | undefined {
  if (typeof text !== 'string') return undefined;
  const m = FORMAT.exec(text);
  if (m === null) return undefined;
  const offsets = {} as Positions;
  const epochs = {} as Record<StreamKey, string>;
  for (const [i, key] of STREAM_KEYS.entries()) {
    const offset = Number(m[i + 1]);
    if (!Number.isSafeInteger(offset)) return undefined;
    offsets[key] = offset;
    epochs[key] = m[i + 4]!;
  }
  return { offsets, epochs };
}
