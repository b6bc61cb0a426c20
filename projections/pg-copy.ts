/**
 * `COPY ... FROM STDIN` for rows already in memory: a rebuild writes the rows its
 * fold held this way (see `BatchApplier.writeHeld`), in the binary format where it
 * can (copy-binary.ts), else in the text format below. For the dashboard's 35,000
 * rows Postgres took about half the time it takes for `INSERT ... SELECT FROM
 * json_to_recordset` (95–135 ms against 320–460 ms on the same loaded machine).
 * The copy protocol is pg-copy-streams' (node-postgres's own companion for it).
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFromStdin } from 'pg-copy-streams';
import { copyBinary } from './copy-binary.ts';
import { VIEW_COLUMNS, type ViewColumnType, type ViewTableName } from './tables.ts';

/** Runs `statement` (a `COPY ... FROM STDIN`) on `client`, sending `data` (text format as a string, binary as bytes). */
export async function copyFrom(client: pg.PoolClient, statement: string, data: string | Uint8Array): Promise<void> {
  await pipeline(Readable.from([typeof data === 'string' ? Buffer.from(data) : data]), client.query(copyFromStdin(statement)));
}

/** A `COPY ... FROM STDIN` and what it sends. */
export interface CopyPart {
  readonly statement: string;
  /** Text format as a string, binary as bytes. */
  readonly data: string | Uint8Array;
}

/** Rows of a view table as a COPY: binary, or text where a value is one only the text format takes as it should (see copy-binary.ts). */
export function copyPart(schema: string, table: ViewTableName, rows: readonly object[]): CopyPart {
  const binary = copyStatement(schema, table, 'binary');
  const data = copyBinary(rows, binary.columns, binary.types);
  if (data !== undefined) return { statement: binary.statement, data };
  const text = copyStatement(schema, table);
  return { statement: text.statement, data: copyText(rows, text.columns) };
}

/** `COPY "schema"."table" (columns) FROM STDIN` for a view table (in `format`), and its columns in order with their types. */
export function copyStatement(schema: string, table: ViewTableName, format: 'text' | 'binary' = 'text'): { readonly statement: string; readonly columns: readonly string[]; readonly types: readonly ViewColumnType[] } {
  const columns = Object.keys(VIEW_COLUMNS[table]);
  const types = Object.values(VIEW_COLUMNS[table]) as ViewColumnType[];
  const options = format === 'binary' ? ' WITH (FORMAT binary)' : '';
  return { statement: `COPY ${quote(schema)}.${quote(table)} (${columns.map(quote).join(', ')}) FROM STDIN${options}`, columns, types };
}

/**
 * Rows in COPY's text format. Values become what the JSON of the insert path would
 * have made them: a number that is not finite is null (so a column that refuses
 * null refuses it here too), dates are ISO strings.
 */
export function copyText(rows: readonly object[], columns: readonly string[]): string {
  let text = '';
  for (const row of rows) {
    const r = row as Record<string, unknown>;
    for (let i = 0; i < columns.length; i++) {
      if (i > 0) text += '\t';
      text += field(r[columns[i]!]);
    }
    text += '\n';
  }
  return text;
}

function field(v: unknown): string {
  switch (typeof v) {
    case 'string':
      // Backslash first: the other escapes add backslashes of their own.
      return /[\\\t\n\r]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r') : v;
    case 'number':
      return Number.isFinite(v) ? String(v) : '\\N';
    case 'boolean':
      return v ? 't' : 'f';
    case 'object':
      if (v === null) return '\\N';
      if (v instanceof Date) return v.toISOString();
      // What the JSON path would make of it (a Decimal's string, say); an object stays its JSON text.
      return fieldOfJson(JSON.parse(JSON.stringify(v)) as unknown);
    default:
      return '\\N';
  }
}

function fieldOfJson(v: unknown): string {
  return typeof v === 'object' && v !== null ? field(JSON.stringify(v)) : field(v);
}

function quote(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}
