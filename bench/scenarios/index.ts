/** The scenarios by name. */
import type { ScenarioName } from '../options.ts';
import { runBurst } from './burst.ts';
import { runConnections } from './connections.ts';
import { runFanout } from './fanout.ts';
import { runReconnectStorm } from './reconnect-storm.ts';
import type { Scenario } from './scenario.ts';
import { runSlowConsumers } from './slow-consumers.ts';

export type { Scenario, ScenarioRun } from './scenario.ts';

export const scenarios: Readonly<Record<ScenarioName, Scenario>> = {
  fanout: runFanout,
  burst: runBurst,
  'reconnect-storm': runReconnectStorm,
  'slow-consumers': runSlowConsumers,
  connections: runConnections,
};
