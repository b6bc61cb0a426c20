/**
 * The projections' public entry: workers that fold the site log into Postgres
 * views exactly once, rebuildable, and the reader that serves them as snapshots.
 */
export { type AppliedBatch, BatchApplier, type BatchCursor } from './batch-applier.ts';
export { loadProjectionsConfig, type ProjectionsConfig, ProjectionsConfigError } from './config.ts';
export { DashboardProjection } from './dashboard-projection.ts';
export { claimPglite, DatabaseInUseError, openDatabase, openPglite, openPostgres, pglitePath, type ProjectionDatabase } from './database.ts';
export { InventoryProjection } from './inventory-projection.ts';
export { OpeningResponder } from './opening-responder.ts';
export { migrateToLatest } from './migrations/index.ts';
export type { FoldContext, Projection } from './projection.ts';
export { type ProjectionStatus, readProjectionStatus, statusSubject } from './projection-status.ts';
export { allProjections, rebuildSubject, ProjectionRunner, type ProjectionRunnerOptions } from './projection-runner.ts';
export { ProjectionWorker, SimulatedCrash, type WorkerFaults } from './projection-worker.ts';
export { rebuildProjection, RebuildError, type RebuildResult } from './rebuild.ts';
export type { ProjectionTables } from './tables.ts';
export { type DashboardSnapshot, type InventorySnapshot, ViewReader } from './view-reader.ts';
