/**
 * What `npm run projections -- status` shows of each projection: how far it has
 * folded and its last dead letters. Read by whichever process may open the
 * database: the CLI itself, or, for an embedded database (one process at a
 * time), the runner that holds it, asked over NATS on `statusSubject`.
 */
import type { Kysely } from 'kysely';
import type { ProjectionTables } from './tables.ts';

export interface ProjectionStatus {
  readonly name: string;
  /** The last offset folded into its views; 0 before the first. */
  readonly lastSeq: number;
  /** ISO time of its last commit; undefined before the first. */
  readonly updatedAt: string | undefined;
  /** The newest few, newest first. */
  readonly deadLetters: readonly { readonly seq: number; readonly subject: string; readonly error: string }[];
}

/** The subject a runner answers status requests on (not captured by any stream). */
export function statusSubject(ns: string): string {
  return `${ns}.projections.status`;
}

const DEAD_LETTERS_SHOWN = 5;

/**
 * @example
 * for (const s of await readProjectionStatus(db, 'projections', ['dashboard'])) console.log(s.name, s.lastSeq);
 */
export async function readProjectionStatus(db: Kysely<ProjectionTables>, schema: string, names: readonly string[]): Promise<ProjectionStatus[]> {
  const t = db.withSchema(schema);
  const checkpoints = await t.selectFrom('projection_checkpoints').select(['name', 'last_seq', 'updated_at']).execute();
  const statuses: ProjectionStatus[] = [];
  for (const name of names) {
    const cp = checkpoints.find((c) => c.name === name);
    const deadLetters = await t.selectFrom('projection_dead_letters').select(['seq', 'subject', 'error']).where('projection', '=', name).orderBy('seq', 'desc').limit(DEAD_LETTERS_SHOWN).execute();
    statuses.push({ name, lastSeq: cp?.last_seq ?? 0, updatedAt: cp?.updated_at.toISOString(), deadLetters });
  }
  return statuses;
}
