/**
 * Where a JetStream delivery sits, read from its ack subject
 * (`$JS.ACK.<stream>.<consumer>.<delivered>.<seq>.<cseq>.<ns>.<pending>`, or its
 * 12-token form with domain and account). nats.js builds an object of nine fields
 * per message for `info`; replays read millions, so only what they use is taken.
 */

export interface Delivery {
  /** Stream sequence. */
  readonly seq: number;
  /** Append time in ms since the Unix epoch. */
  readonly ts: number;
  /** Messages the consumer still had to deliver after this one. */
  readonly pending: number;
}

/** A delivery and the consumer's own sequence (which has no gaps), or undefined if `reply` is no ack subject. */
export function parseAckSubject(reply: string): (Delivery & { readonly consumerSeq: number }) | undefined {
  if (!reply.startsWith('$JS.ACK.')) return undefined;
  // Scanned from the end, without splitting: the last tokens are `<seq>.<cseq>.<ns>.<pending>`,
  // followed by `.<random>` in the 12-token form (9 and 11 tokens have none).
  let end = reply.length;
  let dot = reply.lastIndexOf('.', end - 1);
  if (countDots(reply) > 10) {
    end = dot;
    dot = reply.lastIndexOf('.', end - 1);
  }
  const pending = Number(reply.slice(dot + 1, end));
  const nsEnd = dot;
  const nsStart = reply.lastIndexOf('.', nsEnd - 1);
  const cseqStart = reply.lastIndexOf('.', nsStart - 1);
  const seqStart = reply.lastIndexOf('.', cseqStart - 1);
  return { seq: Number(reply.slice(seqStart + 1, cseqStart)), consumerSeq: Number(reply.slice(cseqStart + 1, nsStart)), ts: Math.floor(Number(reply.slice(nsStart + 1, nsEnd)) / 1e6), pending };
}

function countDots(s: string): number {
  let n = 0;
  for (let i = s.indexOf('.'); i !== -1; i = s.indexOf('.', i + 1)) n++;
  return n;
}
