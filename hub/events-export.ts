/**
 * Serves one events export over HTTP: authorizes the selection, opens a
 * LogReader on the hub's NATS connection, encodes batches as they arrive and
 * writes them with backpressure. Whatever ends it (the last record, the limit,
 * the client leaving, a stall, an error), the reader is closed and its consumer
 * deleted before the handler returns.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import type { HttpResponse } from 'uWebSockets.js';
import { LogReader } from '../protocol/log-reader.ts';
import type { SelectionOptions } from '../protocol/log-selection.ts';
import { LogPositionError, LogSelectionError } from '../protocol/replay-errors.ts';
import type { StreamKey } from '../protocol/subjects.ts';
import type { HubConfig } from './config.ts';
import type { EventPermissions } from './event-permissions.ts';
import { authorizeExport, type ExportCaller, ExportForbiddenError } from './export-access.ts';
import type { ExportQuery } from './export-query.ts';
import type { ExportSlots } from './export-slots.ts';
import { type Exchange, sendJson } from './http-io.ts';
import { sendTooManyRequests } from './http-rate-limits.ts';
import type { Logger } from './logger.ts';
import { recordEncoder } from './record-encoder.ts';
import { ResponseSink } from './response-sink.ts';

export interface EventsExportDeps {
  readonly config: HubConfig;
  readonly log: Logger;
  readonly permissions: EventPermissions;
  /** Bounds the exports one token runs at once (each holds a JetStream consumer). */
  readonly exportSlots: ExportSlots;
  nc(): NatsConnection | undefined;
}

/** Encoded output is gathered up to this many bytes per write: fewer syscalls, same backpressure. */
const CHUNK_BYTES = 64 * 1024;
/** Records taken from the reader at a time: bounds one chunk's overshoot. */
const BATCH = 256;

export async function serveEventsExport(res: HttpResponse, exchange: Exchange, deps: EventsExportDeps, caller: ExportCaller, stream: StreamKey, query: ExportQuery): Promise<void> {
  let selection;
  try {
    selection = authorizeExport(caller, stream, query, deps.config, deps.permissions);
  } catch (e) {
    if (e instanceof ExportForbiddenError) return sendJson(res, 403, { error: e.message }, exchange);
    throw e;
  }
  const nc = deps.nc();
  if (nc === undefined) return sendJson(res, 503, { error: 'NATS is not connected yet; retry' }, exchange);
  const release = deps.exportSlots.acquire(caller.service ? 'service' : caller.grant.userKey);
  if (release === undefined) return sendTooManyRequests(res, exchange, { retryAfterMs: 1000, message: `your token already runs ${deps.config.httpLimits.exportsPerToken} exports (HUB_HTTP_EXPORTS_PER_TOKEN)` });
  try {
    await streamExport(res, exchange, deps, nc, stream, query, selection);
  } finally {
    release();
  }
}

async function streamExport(res: HttpResponse, exchange: Exchange, deps: EventsExportDeps, nc: NatsConnection, stream: StreamKey, query: ExportQuery, selection: SelectionOptions): Promise<void> {
  let reader: LogReader;
  try {
    reader = await LogReader.connect({ ...selection, connection: nc, namespace: deps.config.namespace, from: query.from, to: query.to, limit: query.limit, follow: query.follow, bufferBytes: 4 * 1024 * 1024 });
  } catch (e) {
    if (e instanceof LogSelectionError || e instanceof LogPositionError) return sendJson(res, 400, { error: e.message }, exchange);
    throw e;
  }
  if (exchange.aborted) return reader.close();
  const encoder = recordEncoder(query.format);
  const headers: Record<string, string> = { 'x-log-stream': stream, 'x-log-epoch': reader.epoch };
  if (!encoder.text) headers['content-disposition'] = `attachment; filename="${deps.config.namespace}-${stream}-events.${encoder.extension}"`;
  const sink = new ResponseSink(res, exchange, encoder.contentType, headers, deps.config.exportStallMs, () => void reader.close());
  const pending = new Pending();
  try {
    for (let batch = await reader.nextBatch(BATCH); batch !== undefined && !sink.gone; batch = await reader.nextBatch(BATCH)) {
      pending.add(encoder.encode(batch));
      // Following, what has arrived goes out at once: a live tail must not wait for a full chunk.
      if (pending.bytes >= CHUNK_BYTES || (query.follow && reader.buffered === 0)) await sink.write(pending.take());
    }
    if (!sink.gone) {
      pending.add(encoder.end());
      await sink.write(pending.take());
      sink.end();
    }
  } catch (e) {
    if (!sink.started) {
      deps.log.warn({ err: (e as Error).message, stream }, 'events export failed');
      sendJson(res, 503, { error: `export failed: ${(e as Error).message}` }, exchange);
    } else {
      deps.log.warn({ err: (e as Error).message, stream, position: reader.position }, 'events export cut mid-stream');
      sink.cut();
    }
  } finally {
    await reader.close();
    if (sink.stalled) deps.log.info({ stream, position: reader.position, stallMs: deps.config.exportStallMs }, 'events export cut: the client took nothing');
  }
}

/** Encoded pieces waiting for one write; an encoder gives only strings or only bytes. */
class Pending {
  #parts: Array<string | Uint8Array> = [];
  bytes = 0;

  add(part: string | Uint8Array): void {
    if (part.length === 0) return;
    this.#parts.push(part);
    this.bytes += part.length;
  }

  take(): string | Uint8Array {
    const parts = this.#parts;
    this.#parts = [];
    this.bytes = 0;
    if (parts.length === 1) return parts[0]!;
    if (parts.every((p) => typeof p === 'string')) return parts.join('');
    return Buffer.concat(parts as Uint8Array[]);
  }
}
