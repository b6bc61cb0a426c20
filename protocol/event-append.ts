/**
 * Turns "this event, for this site or user, with this data" into the subject and
 * payload bytes to append, or a clear InvalidEventError. HubPublisher and the
 * hub's HTTP ingest share it, so both validate identically.
 */
import { type EventName, isEventName, isSiteEvent, siteEventSpec, SYSTEM_LEVELS } from './catalogue.ts';
import { decodePayload, encodePayload } from './codec.ts';
import { checkDomainEvent } from './domain-events.ts';
import { InvalidEventError } from './errors.ts';
import { toJsonValue } from './json-value.ts';
import { globalSubject, idToken, type StreamKey, siteSubject, userSubject, userToken } from './subjects.ts';

/** What a producer asks to append. */
export interface AppendRequest {
  readonly event: EventName;
  /** Site of a site event. Alarms may carry it in `data.siteId` / `data.site_id` instead. */
  readonly siteId?: string | number | bigint;
  /** Recipient of a private `notification:new` (any id of 1–128 characters, see `userToken`); without it the notification is a broadcast. */
  readonly userId?: string | number | bigint;
  /** Sent as `JSON.stringify` would send it (see `toJsonValue`): Dates as ISO strings, Decimals as their strings. */
  readonly data: unknown;
}

export interface Append {
  readonly event: EventName;
  readonly stream: StreamKey;
  readonly subject: string;
  readonly payload: Uint8Array;
}

/** NATS' default max_payload is 1 MiB; leave room for headers. */
export const MAX_PAYLOAD_BYTES = 1_000_000;

export function buildAppend(ns: string, request: AppendRequest): Append {
  if (request === null || typeof request !== 'object') throw new InvalidEventError('an append is an object {event, siteId?, userId?, data}');
  const { event } = request;
  if (!isEventName(event)) throw new InvalidEventError(`unknown event ${JSON.stringify(event)}`);
  // Validated and stored in the JSON shape subscribers get, exactly what the seed's Socket.IO gateway emitted.
  let data: unknown;
  try {
    data = toJsonValue(request.data);
  } catch (e) {
    throw new InvalidEventError(`${event}: ${(e as Error).message}`, { cause: e });
  }
  if (data === undefined) throw new InvalidEventError(`${event}: data is required`);

  let stream: StreamKey;
  let subject: string;
  if (isSiteEvent(event)) {
    const spec = siteEventSpec(event);
    const rawSite = request.siteId ?? (spec.tail.startsWith('alarm.') ? siteOfAlarm(event, data) : undefined);
    // Prisma gives BigInt columns as bigint: a site id all the same.
    const site = idToken(typeof rawSite === 'bigint' ? rawSite.toString() : rawSite);
    if (site === undefined) throw new InvalidEventError(`${event}: siteId ${describe(rawSite)} is not a site id (a non-negative integer or [A-Za-z0-9_-]{1,64})`);
    if (spec.tail.startsWith('alarm.') && (typeof data !== 'object' || data === null)) throw new InvalidEventError(`${event}: an alarm is an object`);
    checkDomainEvent(event, data);
    stream = 'site';
    subject = siteSubject(ns, site, spec.tail);
  } else if (event === 'notification:new') {
    if (request.userId === undefined) {
      stream = 'global';
      subject = globalSubject(ns, 'notification');
    } else {
      const user = userToken(request.userId);
      if (user === undefined) throw new InvalidEventError(`${event}: userId ${describe(request.userId)} is not a user id (a non-negative integer or a string of 1 to 128 characters)`);
      stream = 'user';
      subject = userSubject(ns, user, 'notification');
    }
  } else {
    checkSystemMessage(data);
    stream = 'global';
    subject = globalSubject(ns, 'system');
  }

  let payload: Uint8Array;
  try {
    payload = encodePayload(data);
  } catch (e) {
    throw new InvalidEventError(`${event}: data cannot be encoded: ${(e as Error).message}`, { cause: e });
  }
  if (payload.length > MAX_PAYLOAD_BYTES) throw new InvalidEventError(`${event}: data is ${payload.length} bytes encoded, over the ${MAX_PAYLOAD_BYTES} limit`);
  // What the log holds must be readable by every reader (hub, clients, projections), whose decoder is
  // bounded and refuses `__proto__` keys: one unreadable event would poison them all. Small cost per append.
  try {
    decodePayload(payload);
  } catch (e) {
    throw new InvalidEventError(`${event}: data cannot be read back: ${(e as Error).message}`, { cause: e });
  }
  return { event, stream, subject, payload };
}

/** The seed's alarms carry their site as `siteId` (API objects) or `site_id` (database rows). */
function siteOfAlarm(event: string, alarm: unknown): unknown {
  if (typeof alarm !== 'object' || alarm === null) throw new InvalidEventError(`${event}: an alarm is an object with siteId or site_id`);
  const a = alarm as { siteId?: unknown; site_id?: unknown };
  const site = a.siteId ?? a.site_id;
  if (site === undefined || site === null) throw new InvalidEventError(`${event}: the alarm has no siteId or site_id, so no site to deliver it to`);
  return site;
}

function checkSystemMessage(data: unknown): void {
  const m = data as { message?: unknown; level?: unknown; timestamp?: unknown } | null;
  if (typeof m !== 'object' || m === null || typeof m.message !== 'string' || m.message.length === 0) {
    throw new InvalidEventError('system:message: data is {message: non-empty string, level, timestamp}');
  }
  if (!(SYSTEM_LEVELS as readonly unknown[]).includes(m.level)) {
    throw new InvalidEventError(`system:message: level ${describe(m.level)} is not one of ${SYSTEM_LEVELS.join(', ')}`);
  }
}

function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (typeof v === 'bigint') return `${v}n`;
  return JSON.stringify(v) ?? String(v);
}
