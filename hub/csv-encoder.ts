/**
 * CSV as RFC 4180 has it: a header row, CRLF line ends, fields quoted when they
 * hold a quote, comma or line break, quotes doubled. `data` is its JSON text;
 * `site` or `user` is empty where the stream has none; `ts` is milliseconds.
 */
import { type LogRecord, RECORD_COLUMNS } from '../protocol/log-record.ts';
import type { RecordEncoder } from './record-encoder.ts';

const NEEDS_QUOTES = /[",\r\n]/;

export class CsvEncoder implements RecordEncoder {
  readonly contentType = 'text/csv; charset=utf-8; header=present';
  readonly extension = 'csv';
  readonly text = true;
  #headerSent = false;

  encode(records: readonly LogRecord[]): string {
    let out = this.#header();
    for (const r of records) {
      out += `${r.offset},${field(r.epoch)},${r.ts},${r.stream},${field(r.site ?? '')},${field(r.user ?? '')},${r.event},${field(JSON.stringify(r.data))},${r.derived}\r\n`;
    }
    return out;
  }

  end(): string {
    return this.#header();
  }

  #header(): string {
    if (this.#headerSent) return '';
    this.#headerSent = true;
    return RECORD_COLUMNS.join(',') + '\r\n';
  }
}

function field(s: string): string {
  return NEEDS_QUOTES.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
