/**
 * Which events of a log a replay wants, as one NATS filter subject plus what is
 * left to check per event. nats-server 2.9 takes one filter subject per consumer:
 * one site (or user) and one event narrow it on the server; several become a
 * wildcard whose extra events the reader skips (all of a log's events are in one
 * stream, so one consumer reads them in offset order). Browser-safe.
 */
import { EVENT_NAMES, type EventName, specForEvent } from './catalogue.ts';
import { LogSelectionError } from './replay-errors.ts';
import { idToken, STREAM_KEYS, type StreamKey, userToken } from './subjects.ts';

export interface SelectionOptions {
  readonly stream: StreamKey;
  /** Site ids (site stream only); default every site. */
  readonly sites?: readonly (string | number)[];
  /** User ids (user stream only); default every user. */
  readonly users?: readonly (string | number | bigint)[];
  /** Event names; default every event of the stream. */
  readonly events?: readonly string[];
}

export interface LogSelection {
  readonly stream: StreamKey;
  /** The consumer's filter subject. */
  readonly filter: string;
  /** Owner tokens (site or user) still to check per event, or undefined when the filter settles it. */
  readonly owners: ReadonlySet<string> | undefined;
  /** Event names still to check per event, or undefined when the filter settles it. */
  readonly events: ReadonlySet<EventName> | undefined;
}

/** Events each stream holds. */
export function streamEvents(stream: StreamKey): EventName[] {
  return EVENT_NAMES.filter((name) => specForEvent(stream, name) !== undefined);
}

export function selectEvents(ns: string, options: SelectionOptions): LogSelection {
  const { stream } = options;
  if (!STREAM_KEYS.includes(stream)) throw new LogSelectionError(`stream must be one of ${STREAM_KEYS.join(', ')}, not ${JSON.stringify(stream)}`);
  if (options.sites !== undefined && stream !== 'site') throw new LogSelectionError(`sites apply to the site stream, not ${stream}`);
  if (options.users !== undefined && stream !== 'user') throw new LogSelectionError(`users apply to the user stream, not ${stream}`);
  const owners = stream === 'site' ? tokens(options.sites, idToken, 'site') : stream === 'user' ? tokens(options.users, userToken, 'user') : undefined;
  let events: EventName[] | undefined;
  if (options.events !== undefined) {
    const known = streamEvents(stream);
    events = [];
    for (const e of options.events) {
      if (!(known as readonly string[]).includes(e)) throw new LogSelectionError(`event ${JSON.stringify(e)} is not in the ${stream} stream (one of ${known.join(', ')})`);
      if (!events.includes(e as EventName)) events.push(e as EventName);
    }
    if (events.length === 0) throw new LogSelectionError('events is empty: name at least one, or leave it out for all');
  }
  const owner = owners?.length === 1 ? owners[0] : '*';
  const tail = events?.length === 1 ? specForEvent(stream, events[0]!)!.tail : '>';
  const filter = stream === 'global' ? `${ns}.global.${tail}` : `${ns}.${stream}.${owner}.${tail}`;
  return {
    stream,
    filter,
    owners: owners !== undefined && owners.length > 1 ? new Set(owners) : undefined,
    events: events !== undefined && events.length > 1 ? new Set(events) : undefined,
  };
}

function tokens<T>(ids: readonly T[] | undefined, token: (id: T) => string | undefined, what: string): string[] | undefined {
  if (ids === undefined) return undefined;
  if (ids.length === 0) throw new LogSelectionError(`${what}s is empty: name at least one, or leave it out for all`);
  const out: string[] = [];
  for (const id of ids) {
    const t = token(id);
    if (t === undefined) throw new LogSelectionError(`${JSON.stringify(typeof id === 'bigint' ? String(id) : id)} is not a ${what} id`);
    if (!out.includes(t)) out.push(t);
  }
  return out;
}
