/**
 * Worker threads running TypeScript modules. Node 20 does not pass tsx's loader
 * (`--import tsx`, or the `tsx` command) on to a worker's entry module, so the
 * worker starts from a small JavaScript bootstrap that registers tsx in its own
 * thread and then imports the TypeScript entry.
 */
import { Worker } from 'node:worker_threads';

const BOOTSTRAP = new URL('./ts-worker-bootstrap.mjs', import.meta.url);

/** Starts `entry` (a `.ts` file URL) in a worker thread; it reads `data` as `workerData.data`. */
export function startTsWorker(entry: URL, data: unknown, name: string): Worker {
  return new Worker(BOOTSTRAP, { workerData: { entry: entry.href, data }, name });
}
