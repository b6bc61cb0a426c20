/**
 * One header of a NATS message, read from the message's raw header block
 * without decoding the rest. `m.headers` turns every header of every message
 * into a Map (text decode, split, validation): about a tenth of an export's CPU,
 * for one mark that most messages lack. Node only.
 *
 * The raw block is nats.js's `MsgImpl` state (`_msg.hdr` bytes of headers at the
 * start of `_rdata`), the same in nats.js 2.x and 3.x; if a release changes it,
 * this falls back to `m.headers`: slower, never different. The answer is what
 * `m.headers.get(name)` gives: the first line whose key is exactly `name`, its
 * value trimmed, '' when absent.
 */
import type { JsMsg } from '@nats-io/jetstream';

interface RawMsg {
  readonly _msg?: { readonly hdr?: unknown };
  readonly _rdata?: unknown;
}

const CR = 13;
const LF = 10;
const utf8 = new TextDecoder();
/** `\r\n<name>:` as bytes, per name asked for. */
const needles = new Map<string, Uint8Array>();

export function messageHeader(m: JsMsg, name: string): string {
  const raw = (m as unknown as { readonly msg?: RawMsg }).msg;
  const hdr = raw?._msg?.hdr;
  const bytes = raw?._rdata;
  if (typeof hdr !== 'number' || !(bytes instanceof Uint8Array) || hdr > bytes.length) return m.headers?.get(name) ?? '';
  if (hdr <= 0) return '';
  let needle = needles.get(name);
  if (needle === undefined) needles.set(name, (needle = new TextEncoder().encode(`\r\n${name}:`)));
  const at = indexOf(bytes, hdr, needle);
  if (at < 0) return '';
  let end = at + needle.length;
  while (end < hdr && !(bytes[end] === CR && bytes[end + 1] === LF)) end++;
  return utf8.decode(bytes.subarray(at + needle.length, end)).trim();
}

/** Where `needle` starts in the first `end` bytes, or -1. Header blocks are a few dozen bytes: a plain scan from line start to line start. */
function indexOf(bytes: Uint8Array, end: number, needle: Uint8Array): number {
  const last = end - needle.length;
  outer: for (let i = 0; i <= last; i++) {
    if (bytes[i] !== CR) continue;
    for (let k = 1; k < needle.length; k++) if (bytes[i + k] !== needle[k]) continue outer;
    return i;
  }
  return -1;
}
