// The entry of worker threads started by ts-worker.ts: registers tsx in this
// thread (Node 20 does not inherit it), then runs the TypeScript module.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
