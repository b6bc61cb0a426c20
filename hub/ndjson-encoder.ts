/** One JSON record per line (`application/x-ndjson`). */
import type { LogRecord } from '../protocol/log-record.ts';
import type { RecordEncoder } from './record-encoder.ts';

export class NdjsonEncoder implements RecordEncoder {
  readonly contentType = 'application/x-ndjson';
  readonly extension = 'ndjson';
  readonly text = true;

  encode(records: readonly LogRecord[]): string {
    let out = '';
    for (const r of records) out += JSON.stringify(r) + '\n';
    return out;
  }

  end(): string {
    return '';
  }
}
