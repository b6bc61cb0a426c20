/**
 * The process's replay reader threads: started on first use and kept, idle and
 * unreferenced (they never hold the process open), for the next replay, because
 * starting one costs a few hundred ms of module loading: as much as reading
 * 100,000 events. One replay per thread at a time; concurrent replays start more.
 */
import type { Worker } from 'node:worker_threads';
import { startTsWorker } from './ts-worker.ts';

const idle: Worker[] = [];
/** Idle threads kept beyond this are ended. */
const KEEP_IDLE = 2;

/** A thread for one replay: an idle one, or a new one. */
export function acquireReplayThread(): Worker {
  const worker = idle.pop() ?? start();
  worker.ref();
  return worker;
}

/** Back to the idle threads, once its replay has closed cleanly; otherwise, or past the bound, ended. */
export function releaseReplayThread(worker: Worker, reusable: boolean): void {
  if (!reusable || idle.length >= KEEP_IDLE) {
    void worker.terminate();
    return;
  }
  worker.unref();
  idle.push(worker);
}

function start(): Worker {
  const worker = startTsWorker(new URL('./stream-replay-thread.ts', import.meta.url), undefined, 'stream-replay');
  // A thread that dies while idle is simply forgotten; one in use reports to its replay.
  const forget = () => {
    const i = idle.indexOf(worker);
    if (i !== -1) idle.splice(i, 1);
  };
  worker.once('exit', forget);
  worker.on('error', forget);
  return worker;
}
