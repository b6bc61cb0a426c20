/**
 * State a fold may keep between batches when it is the only writer of tables that
 * started empty: a rebuild. Then every row that exists is one the fold wrote, so
 * it can look rows up in memory instead of loading them. Any failed transaction
 * invalidates it (the memory may hold what was rolled back), and so does growing
 * past its bound; from then on the fold loads rows as a live worker does.
 */
export class FoldMemory {
  readonly #state = new Map<string, unknown>();
  readonly #maxRows: number;
  #valid = true;

  constructor(maxRows = 2_000_000) {
    this.#maxRows = maxRows;
  }

  get valid(): boolean {
    return this.#valid;
  }

  get<T>(key: string): T | undefined {
    return this.#valid ? (this.#state.get(key) as T | undefined) : undefined;
  }

  set(key: string, value: unknown): void {
    if (this.#valid) this.#state.set(key, value);
  }

  /** Called by a fold with the rows it holds: past the bound, memory is dropped. */
  holds(rows: number): void {
    if (rows > this.#maxRows) this.invalidate();
  }

  invalidate(): void {
    this.#valid = false;
    this.#state.clear();
  }
}
