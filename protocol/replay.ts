/**
 * The analytics entry (`plant-realtime-hub/replay`): read any log, filtered, in
 * offset order, from an offset, a time or a stored position, over NATS directly.
 * Node only (NATS TCP transport), like `./publisher`.
 */
export { LogReader, type LogReaderOptions } from './log-reader.ts';
export type { LogFrom, LogPosition, LogTo } from './log-range.ts';
export { type LogBound, parseBound } from './log-bound.ts';
export { DERIVED_HEADER, isDerived, type LogRecord, RECORD_COLUMNS } from './log-record.ts';
export { type LogSelection, selectEvents, type SelectionOptions, streamEvents } from './log-selection.ts';
export { LogPositionError, LogReadError, LogSelectionError, type PositionProblem } from './replay-errors.ts';
export { epochOf } from './stream-epoch.ts';
