/**
 * `npm run bench:start [-- --runs 3 --nats-port 4223 --port 3000]`: how long `npm start` takes on a
 * fresh machine, as a newcomer sees it. For each run: a new data folder, a first start (no embedded
 * database yet, no JetStream store), stopped with SIGTERM, then a second start on the same folder.
 * Times are from spawn to the first HTTP answer on /healthz (any status) and to its first 200.
 * Prints each run and the medians; nothing configured but the ports and HUB_DATA_DIR (embedded
 * nats-server, embedded database, development secret). `--root <dir>` times another checkout.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandLine } from '../protocol/cli/index.ts';

const cli = new CommandLine({
  name: 'npm run bench:start',
  usage: 'usage: npm run bench:start -- [--runs 3] [--port 3000] [--nats-port 4223] [--root <checkout>]',
  details: `Times \`npm start\` --runs times on a fresh data folder and then again on that folder (a second
start): from spawn to the first /healthz answer (503 while starting) and to /healthz 200. Prints medians.
  --port, --nats-port   the hub's port and its embedded nats-server's
  --root <checkout>     time another checkout (an older commit) for a ratio measured in the same session`,
  options: {
    runs: { type: 'string', default: '3' },
    port: { type: 'string', default: '3000' },
    'nats-port': { type: 'string', default: '4223' },
    /** Another checkout to time instead of this one (e.g. an older commit, for a ratio measured in the same run). */
    root: { type: 'string' },
  },
});
const { values } = cli.parse();
if (!(Number(values.runs) >= 1 && Number.isInteger(Number(values.runs)))) cli.fail('--runs must be a whole number of at least 1');
const runs = Number(values.runs);
const ROOT = values.root ?? new URL('..', import.meta.url).pathname;

interface StartTimes {
  /** Spawn to the first answer of /healthz, whatever its status. */
  readonly firstAnswerMs: number;
  /** Spawn to /healthz 200. */
  readonly readyMs: number;
  /** The status of that first answer. */
  readonly firstStatus: number;
}

function environment(dataDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HUB_') && k !== 'NATS_URL' && k !== 'DATABASE_URL' && !k.startsWith('npm_')) env[k] = v;
  return { ...env, HUB_DATA_DIR: dataDir, HUB_PORT: values.port, HUB_EMBEDDED_NATS_PORT: values['nats-port'], HUB_LOG_LEVEL: 'warn' };
}

async function start(dataDir: string): Promise<StartTimes> {
  const t0 = performance.now();
  const child = spawn('npm', ['start'], { cwd: ROOT, env: environment(dataDir), stdio: ['ignore', 'ignore', 'inherit'], detached: true });
  try {
    let firstAnswerMs: number | undefined;
    let firstStatus = 0;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`npm start exited with code ${child.exitCode}`);
      const status = await fetch(`http://127.0.0.1:${values.port}/healthz`).then((r) => r.status, () => undefined);
      const at = performance.now() - t0;
      if (status !== undefined && firstAnswerMs === undefined) {
        firstAnswerMs = at;
        firstStatus = status;
      }
      if (status === 200) return { firstAnswerMs: firstAnswerMs!, readyMs: at, firstStatus };
      if (at > 120_000) throw new Error('no /healthz 200 within 120 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await stop(child);
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const gone = new Promise((r) => child.once('exit', r));
    // To npm only, as `docker stop` or Ctrl-C's parent would: the hub must stop its nats-server itself.
    process.kill(child.pid!, 'SIGTERM');
    await gone;
  }
  // The next start needs both ports free; a nats-server left behind is a bug worth a line, then cleared.
  if (!(await closed(Number(values.port))) || !(await closed(Number(values['nats-port'])))) {
    console.log(`warning: npm start exited but left a port open (hub ${values.port} or nats ${values['nats-port']}); killing its process group`);
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {}
  }
}

async function closed(port: number): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (!open) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (x: number) => `${(x / 1000).toFixed(2)} s`;

console.log(`npm run bench:start -- --runs ${runs} --port ${values.port} --nats-port ${values['nats-port']}${values.root === undefined ? '' : ` --root ${values.root}`}`);
const first: StartTimes[] = [];
const second: StartTimes[] = [];
for (let i = 1; i <= runs; i++) {
  const dataDir = mkdtempSync(join(tmpdir(), 'hub-start-bench-'));
  try {
    first.push(await start(dataDir));
    second.push(await start(dataDir));
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  const [a, b] = [first.at(-1)!, second.at(-1)!];
  console.log(`run ${i}: first start: answer ${ms(a.firstAnswerMs)} (${a.firstStatus}), 200 at ${ms(a.readyMs)}; second start: answer ${ms(b.firstAnswerMs)} (${b.firstStatus}), 200 at ${ms(b.readyMs)}`);
}
for (const [label, times] of [['first start', first], ['second start', second]] as const) {
  console.log(`${label}: median to first /healthz answer ${ms(median(times.map((t) => t.firstAnswerMs)))}, to /healthz 200 ${ms(median(times.map((t) => t.readyMs)))} (${runs} runs)`);
}
