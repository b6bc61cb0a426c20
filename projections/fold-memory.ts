/**
 * State a fold may keep between batches when it is the only writer of tables that
 * started empty: a rebuild. Then every row that exists is one the fold wrote, so
 * it can look rows up in memory instead of loading them. Any failed transaction
 * invalidates it (the memory may hold what was rolled back), and so does growing
 * past its bound; from then on the fold loads rows as a live worker does.
 *
 * With `deferWrites`, folds write nothing per batch: the memory is then the only
 * copy of what was folded, and the rebuild writes every row it holds once
 * (`Projection.writeHeld`). Past the bound it is not dropped but marked `full`,
 * so the rebuild writes it out before going on batch by batch; once written
 * (`written()`), folds write per batch again and the memory stays valid.
 */
export interface FoldMemoryOptions {
  /** Rows held beyond this drop the memory (or mark it full, when writes are deferred). */
  readonly maxRows?: number;
  /** Folds leave their rows in memory, for the rebuild to write at once. */
  readonly deferWrites?: boolean;
}

export const DEFAULT_FOLD_MEMORY_ROWS = 2_000_000;

export class FoldMemory {
  readonly #state = new Map<string, unknown>();
  readonly #maxRows: number;
  #valid = true;
  #defer: boolean;
  #full = false;

  constructor(options: FoldMemoryOptions = {}) {
    this.#maxRows = options.maxRows ?? DEFAULT_FOLD_MEMORY_ROWS;
    this.#defer = options.deferWrites ?? false;
  }

  get valid(): boolean {
    return this.#valid;
  }

  /** Folds queue no writes: the rows stay here until the rebuild writes them all. */
  get defersWrites(): boolean {
    return this.#valid && this.#defer;
  }

  /** Deferred rows past the bound: the rebuild is to write them and drop the memory. */
  get full(): boolean {
    return this.#full;
  }

  get<T>(key: string): T | undefined {
    return this.#valid ? (this.#state.get(key) as T | undefined) : undefined;
  }

  set(key: string, value: unknown): void {
    if (this.#valid) this.#state.set(key, value);
  }

  /** Called by a fold with the rows it holds: past the bound, memory is dropped (or marked full while writes are deferred). */
  holds(rows: number): void {
    if (rows <= this.#maxRows) return;
    if (this.defersWrites) this.#full = true;
    else this.invalidate();
  }

  /** Every held row is in the tables now: folds write their changes per batch from here on. */
  written(): void {
    this.#defer = false;
  }

  invalidate(): void {
    this.#valid = false;
    this.#full = false;
    this.#state.clear();
  }
}
