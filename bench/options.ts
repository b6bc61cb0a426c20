/**
 * The bench's command line, parsed and validated once into a frozen object. A bad
 * option fails with a message naming it and saying what would be accepted.
 */
import { parseArgs } from 'node:util';
import type { SocketIoClientKind } from './load/worker-protocol.ts';

export const SCENARIOS = ['fanout', 'burst', 'reconnect-storm', 'slow-consumers', 'connections'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];
export const TARGETS = ['hub', 'hub-socketio', 'socketio', 'uws-bare'] as const;
export type TargetName = (typeof TARGETS)[number];

export interface BenchOptions {
  readonly scenario: ScenarioName;
  /** One target (`--target`), those of `--targets a,b,c`, or all four with `--compare`; run in this order. */
  readonly targets: readonly TargetName[];
  /** More than one target: the report adds ratios (and issue 9's goals when they apply). */
  readonly compare: boolean;
  /** Runs per target; figures are medians over them. */
  readonly repeat: number;
  readonly clients: number;
  readonly sites: number;
  /** Events per second the producer sends, over all sites (steady rate). */
  readonly rate: number;
  readonly durationS: number;
  readonly warmupS: number;
  /** fanout: raise the rate step by step until a bound breaks. */
  readonly ceiling: boolean;
  readonly ceilingStartRate: number;
  readonly ceilingFactor: number;
  readonly ceilingMaxSteps: number;
  /** The latency bound of the ceiling search and of the report's verdicts. */
  readonly maxP99Ms: number;
  readonly burstFactor: number;
  readonly burstS: number;
  readonly dropFraction: number;
  /** Ask the hub to resume from the last offset on reconnect (issue 3); ignored by the baselines. */
  readonly resume: boolean;
  /** Hub clients offer `hub.opt.acks` and ack the alarms they get (as HubClient does), so the hub tracks their positions. */
  readonly ack: boolean;
  readonly reconnectJitterMs: number;
  readonly slowFraction: number;
  readonly stallS: number;
  /** Every Nth event of a site is an alarm (critical); 0 = none. */
  readonly alarmEvery: number;
  readonly connectConcurrency: number;
  /** New connections per second during the ramp; 0 = as fast as the concurrency allows. */
  readonly connectRate: number;
  readonly workers: number;
  /** Socket.IO targets' clients: socket.io-client (the seed's), or the bench's lean client. */
  readonly socketIoClient: SocketIoClientKind;
  readonly payloadBytes: number;
  /** Milliseconds between the producer's batches. */
  readonly tickMs: number;
  /** The hub targets' HUB_WRITE_DELAY_MS; undefined: the hub's default. */
  readonly writeDelayMs: number | undefined;
  readonly natsUrl: string;
  /** How long to wait for stragglers after the producer stopped. */
  readonly drainMaxS: number;
  /** Where the JSON goes: a file, or a directory for `<timestamp>.json`; undefined = bench/results. */
  readonly out: string | undefined;
  readonly json: boolean;
  /** Profile the server under test during each measured window (hub and baselines alike). */
  readonly cpuProf: boolean;
  readonly quiet: boolean;
  /** Before each run, wait (up to two minutes) until the machine is at most this busy (%); 0 = don't wait. */
  readonly waitIdlePercent: number;
}

export type BenchCommand =
  | { readonly command: 'run'; readonly options: BenchOptions }
  | { readonly command: 'chart'; readonly inputs: readonly string[]; readonly out: string | undefined; readonly maxP99Ms: number }
  | { readonly command: 'help' };

/** A command line the bench cannot run; the message names the option. */
export class OptionError extends Error {
  override readonly name = 'OptionError';
}

/** Defaults per scenario: each scenario's figures mean something at its own defaults. */
const SCENARIO_DEFAULTS: Record<ScenarioName, Partial<Record<string, string>>> = {
  fanout: { rate: '1000', duration: '5' },
  burst: { rate: '200', duration: '2' },
  'reconnect-storm': { rate: '500', duration: '6' },
  'slow-consumers': { rate: '500', duration: '5', 'alarm-every': '10' },
  connections: { clients: '10000', duration: '2' },
};

/** Options that only mean something for some scenarios. */
const ONLY_FOR: Partial<Record<string, readonly ScenarioName[]>> = {
  ceiling: ['fanout'],
  'ceiling-start-rate': ['fanout'],
  'ceiling-factor': ['fanout'],
  'ceiling-max-steps': ['fanout'],
  'burst-factor': ['burst'],
  'burst-seconds': ['burst'],
  'drop-fraction': ['reconnect-storm'],
  'no-resume': ['reconnect-storm', 'slow-consumers'],
  'reconnect-jitter-ms': ['reconnect-storm'],
  'slow-fraction': ['slow-consumers'],
  'stall-seconds': ['slow-consumers'],
  'connect-rate': ['connections'],
  rate: ['fanout', 'burst', 'reconnect-storm', 'slow-consumers'],
};

const SPEC = {
  target: { type: 'string' },
  targets: { type: 'string' },
  compare: { type: 'boolean' },
  repeat: { type: 'string' },
  clients: { type: 'string' },
  sites: { type: 'string' },
  rate: { type: 'string' },
  duration: { type: 'string' },
  warmup: { type: 'string' },
  ceiling: { type: 'boolean' },
  'ceiling-start-rate': { type: 'string' },
  'ceiling-factor': { type: 'string' },
  'ceiling-max-steps': { type: 'string' },
  'max-p99-ms': { type: 'string' },
  'burst-factor': { type: 'string' },
  'burst-seconds': { type: 'string' },
  'drop-fraction': { type: 'string' },
  'no-resume': { type: 'boolean' },
  ack: { type: 'boolean' },
  'reconnect-jitter-ms': { type: 'string' },
  'slow-fraction': { type: 'string' },
  'stall-seconds': { type: 'string' },
  'alarm-every': { type: 'string' },
  'connect-concurrency': { type: 'string' },
  'connect-rate': { type: 'string' },
  workers: { type: 'string' },
  'socketio-client': { type: 'string' },
  'payload-bytes': { type: 'string' },
  'tick-ms': { type: 'string' },
  'write-delay-ms': { type: 'string' },
  'nats-url': { type: 'string' },
  'drain-max-seconds': { type: 'string' },
  out: { type: 'string', short: 'o' },
  'no-json': { type: 'boolean' },
  'cpu-prof': { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  'wait-idle': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Loopback ephemeral ports (32768–60999) bound one client address to about 28 k connections. */
export const MAX_CLIENTS = 25_000;

/**
 * @example
 * parseCommand(['fanout', '--clients', '2000', '--compare']); // { command: 'run', options: { … } }
 */
export function parseCommand(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): BenchCommand {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: SPEC, allowPositionals: true, strict: true });
  } catch (e) {
    throw new OptionError(`${(e as Error).message.replace(/\. To specify a positional argument.*$/s, '')} (see --help)`);
  }
  const { values, positionals } = parsed;
  if (values.help === true || positionals.length === 0) return { command: 'help' };
  const [first, ...rest] = positionals;
  if (first === 'chart') {
    if (rest.length === 0) throw new OptionError('chart needs at least one results JSON file: npm run bench -- chart bench/results/<file>.json');
    return { command: 'chart', inputs: rest, out: values.out, maxP99Ms: num(values, 'max-p99-ms', '50', 0.1, 60_000) };
  }
  if (!(SCENARIOS as readonly string[]).includes(first!)) throw new OptionError(`unknown scenario ${JSON.stringify(first)}: use one of ${SCENARIOS.join(', ')}, or chart`);
  if (rest.length > 0) throw new OptionError(`unexpected argument ${JSON.stringify(rest[0])}: options start with --`);
  const scenario = first as ScenarioName;
  for (const key of Object.keys(values)) {
    const only = ONLY_FOR[key];
    if (only !== undefined && !only.includes(scenario)) throw new OptionError(`--${key} applies to ${only.join(', ')}, not ${scenario}`);
  }
  const defaults = SCENARIO_DEFAULTS[scenario];
  const v = (name: string, fallback: string, min: number, max: number, integer = true) => num(values, name, defaults[name] ?? fallback, min, max, integer);

  const targets = targetsOf(values);

  const clients = v('clients', '1000', 1, MAX_CLIENTS);
  const sites = v('sites', '100', 1, 100_000);
  if (sites > clients) throw new OptionError(`--sites ${sites} is more than --clients ${clients}: some sites would have no subscriber`);
  const durationS = v('duration', '5', 0.5, 3600, false);
  const stallS = v('stall-seconds', String(Math.max(0.5, durationS * 0.6)), 0.1, 3600, false);
  if (scenario === 'slow-consumers' && stallS > durationS) throw new OptionError(`--stall-seconds ${stallS} is longer than --duration ${durationS}: slow clients must read again before the run ends`);
  const ceiling = values.ceiling === true;
  const rate = v('rate', '1000', 1, 1_000_000);

  const options: BenchOptions = {
    scenario,
    targets,
    compare: targets.length > 1,
    repeat: v('repeat', '1', 1, 50),
    clients,
    sites,
    rate,
    durationS,
    warmupS: v('warmup', '1', 0, 600, false),
    ceiling,
    ceilingStartRate: v('ceiling-start-rate', String(rate), 1, 1_000_000),
    ceilingFactor: v('ceiling-factor', '1.6', 1.05, 10, false),
    ceilingMaxSteps: v('ceiling-max-steps', '8', 1, 30),
    maxP99Ms: v('max-p99-ms', '50', 0.1, 60_000, false),
    burstFactor: v('burst-factor', '50', 1, 10_000, false),
    burstS: v('burst-seconds', '2', 0.1, 600, false),
    dropFraction: v('drop-fraction', '0.5', 0.01, 1, false),
    resume: values['no-resume'] !== true,
    ack: values.ack === true,
    reconnectJitterMs: v('reconnect-jitter-ms', '0', 0, 60_000),
    slowFraction: v('slow-fraction', '0.1', 0.01, 0.9, false),
    stallS,
    alarmEvery: v('alarm-every', '0', 0, 1_000_000),
    connectConcurrency: v('connect-concurrency', '256', 1, 10_000),
    connectRate: v('connect-rate', '0', 0, 1_000_000),
    workers: v('workers', '2', 1, 16),
    socketIoClient: socketIoClientOf(values['socketio-client']),
    payloadBytes: v('payload-bytes', '64', 0, 60_000),
    tickMs: v('tick-ms', '1', 1, 1000),
    writeDelayMs: values['write-delay-ms'] === undefined ? undefined : v('write-delay-ms', '0', 0, 1000),
    natsUrl: values['nats-url'] ?? env.NATS_URL ?? 'nats://127.0.0.1:4222',
    drainMaxS: v('drain-max-seconds', '20', 0.5, 600, false),
    out: values.out,
    json: values['no-json'] !== true,
    cpuProf: values['cpu-prof'] === true,
    quiet: values.quiet === true,
    waitIdlePercent: v('wait-idle', '0', 0, 100, false),
  };
  checkLoopback(options.natsUrl);
  return { command: 'run', options: Object.freeze(options) };
}

function socketIoClientOf(value: string | undefined): SocketIoClientKind {
  if (value === undefined || value === 'library' || value === 'lean') return value ?? 'library';
  throw new OptionError(`--socketio-client ${JSON.stringify(value)} is not one of library, lean`);
}

/** `--target X`, `--targets a,b,c` (any order, no repeats) or `--compare` (every target). */
function targetsOf(values: { target?: string; targets?: string; compare?: boolean }): readonly TargetName[] {
  if (values.target !== undefined && (values.compare === true || values.targets !== undefined)) throw new OptionError(`--target runs one target; drop it to use ${values.compare === true ? '--compare' : '--targets'}`);
  const check = (name: string, option: string): TargetName => {
    if (!(TARGETS as readonly string[]).includes(name)) throw new OptionError(`${option} ${JSON.stringify(name)} is not one of ${TARGETS.join(', ')}`);
    return name as TargetName;
  };
  if (values.targets !== undefined) {
    const list = values.targets.split(',').map((t) => t.trim());
    const targets = list.map((t) => check(t, '--targets'));
    const repeated = targets.find((t, i) => targets.indexOf(t) !== i);
    if (repeated !== undefined) throw new OptionError(`--targets names ${repeated} twice`);
    return Object.freeze(targets);
  }
  if (values.compare === true) return TARGETS;
  return Object.freeze([check(values.target ?? 'hub', '--target')]);
}

function num(values: Record<string, unknown>, name: string, fallback: string, min: number, max: number, integer = true): number {
  const raw = (values[name] as string | undefined) ?? fallback;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
    throw new OptionError(`--${name} ${JSON.stringify(raw)} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
  }
  return n;
}

/** The bench only ever talks to this machine. */
function checkLoopback(url: string): void {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    throw new OptionError(`--nats-url ${JSON.stringify(url)} is not a URL (e.g. nats://127.0.0.1:4222)`);
  }
  if (!['127.0.0.1', 'localhost', '[::1]', '::1'].includes(host)) throw new OptionError(`--nats-url ${JSON.stringify(url)} is not a loopback address: the bench runs on this machine only`);
}

export const HELP = `npm run bench -- <scenario> [options]
       npm run bench -- chart <results.json>... [--out chart.svg]

Scenarios
  fanout            C clients over S sites, the producer sends R events/s (add --ceiling to raise R until a bound breaks)
  burst             a steady rate, then --burst-factor × it for --burst-seconds
  reconnect-storm   --drop-fraction of the clients drop at once and reconnect (resume from their offset on the hub)
  slow-consumers    --slow-fraction of the clients stop reading for --stall-seconds
  connections       ramp to --clients idle connections; connections/s and memory per connection

Targets
  --target hub|hub-socketio|socketio|uws-bare   (default hub)
            hub-socketio: the same hub server and producer as hub, its clients on the hub's Socket.IO face
  --targets a,b,c   these targets, in this order   --compare   all four
            ratios: hub/socketio, hub/uws-bare, hub-socketio/socketio, hub-socketio/hub (for the targets that ran),
            and, with hub-socketio and a baseline, issue 9's goals as verdicts
  --repeat N        run each target N times; figures are medians

Load
  --clients N (1000; connections: 10000)  --sites S (100)  --rate R events/s  --duration s  --warmup s (1)
  --write-delay-ms ms  the hub's HUB_WRITE_DELAY_MS (default: the hub's own): how long it holds a topic's frames to write them together
  --payload-bytes B (64)  --tick-ms ms (1: the producer sends what is due every tick)  --alarm-every N (0; slow-consumers: 10)  --workers W (2 load-generator threads)
  --ack     hub clients offer hub.opt.acks and ack the alarms they get (cumulative, every 50 ms, as HubClient): the hub
            then tracks each one's acked position and redelivers what stays unacked (bare uWS ignores it)
  --socketio-client library|lean   Socket.IO targets' clients: socket.io-client (default, as the seed's front-ends),
            or the bench's own (same frames; at saturation ~3 µs of generator CPU per delivery against ~9)
  --ceiling  --ceiling-start-rate R  --ceiling-factor F (1.6)  --ceiling-max-steps N (8)  --max-p99-ms X (50)
  --burst-factor F (50)  --burst-seconds s (2)
  --drop-fraction f (0.5)  --reconnect-jitter-ms ms (0)  --no-resume
  --slow-fraction f (0.1)  --stall-seconds s
  --connect-concurrency N (256)  --connect-rate N/s (0 = unthrottled)

Output
  --out FILE|DIR  (default bench/results/<timestamp>.json)  --no-json  --quiet  --cpu-prof (profile the server while measuring)
  --wait-idle P   before each run, wait up to 2 min for the machine to be at most P% busy (shared machines)
  --nats-url URL  (default $NATS_URL or nats://127.0.0.1:4222; loopback only)  --drain-max-seconds s (20)
`;
