/**
 * How exported records become bytes: NDJSON, CSV or Parquet, each fed records in
 * batches and asked for what can be sent so far, so an export streams in bounded
 * memory whatever its length. Shared by the HTTP export and `npm run events`.
 */
import type { LogRecord } from '../protocol/log-record.ts';
import { CsvEncoder } from './csv-encoder.ts';
import { NdjsonEncoder } from './ndjson-encoder.ts';
import { ParquetEncoder } from './parquet-encoder.ts';

export type ExportFormat = 'ndjson' | 'csv' | 'parquet';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['ndjson', 'csv', 'parquet'];

export interface RecordEncoder {
  readonly contentType: string;
  /** File name extension, without the dot. */
  readonly extension: string;
  /** Whether the output is text (a terminal can show it). */
  readonly text: boolean;
  /** The bytes for these records that can go out now (Parquet holds rows until a row group is full). */
  encode(records: readonly LogRecord[]): string | Uint8Array;
  /** Whatever is left, ending the output (a CSV header with no rows, Parquet's last row group and footer). */
  end(): string | Uint8Array;
}

export function recordEncoder(format: ExportFormat): RecordEncoder {
  if (format === 'csv') return new CsvEncoder();
  if (format === 'parquet') return new ParquetEncoder();
  return new NdjsonEncoder();
}
