/** Starts a target by name. */
import type { TargetName } from '../options.ts';
import { startHubSocketIo } from './hub-socketio-target.ts';
import { startHub } from './hub-target.ts';
import { startSocketIo } from './socketio-target.ts';
import type { RunningTarget, TargetStartOptions } from './target.ts';
import { startUwsBare } from './uws-bare-target.ts';

export type { RunningTarget, TargetStartOptions } from './target.ts';

export function startTarget(name: TargetName, opts: TargetStartOptions): Promise<RunningTarget> {
  switch (name) {
    case 'hub':
      return startHub(opts);
    case 'hub-socketio':
      return startHubSocketIo(opts);
    case 'socketio':
      return startSocketIo(opts);
    case 'uws-bare':
      return startUwsBare(opts);
  }
}
