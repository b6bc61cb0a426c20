/**
 * CPU and memory of processes, read from /proc: the server under test, the hub's
 * producer, nats-server, and the whole machine (to see when two cores were not enough).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** /proc/<pid>/stat counts CPU in clock ticks; Linux has used 100 per second for decades. */
const TICK_US = 10_000;

/** User + system CPU of a process (all its threads), in microseconds; null if it is gone. */
export function processCpuUs(pid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) may contain spaces; fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) * TICK_US;
}

/** Resident set size in bytes; null if the process is gone. */
export function processRssBytes(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? null : Number(m[1]) * 1024;
  } catch {
    return null;
  }
}

/** Busy and total jiffies of all CPUs together, from /proc/stat. */
export interface MachineTicks {
  readonly busy: number;
  readonly total: number;
}

export function machineTicks(): MachineTicks {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const [, ...nums] = line.trim().split(/\s+/);
  const t = nums.map(Number);
  const total = t.reduce((a, b) => a + b, 0);
  const idle = (t[3] ?? 0) + (t[4] ?? 0);
  return { busy: total - idle, total };
}

/** Percentage of all CPUs busy between two readings (100 = every core busy). */
export function busyPercent(a: MachineTicks, b: MachineTicks): number | null {
  const total = b.total - a.total;
  return total <= 0 ? null : (100 * (b.busy - a.busy)) / total;
}

/** The pid of the nats-server listening on `port`, found by its command line; undefined if not found (e.g. in a container). */
export function findNatsServerPid(port: number): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (!/(^|\/)nats-server$/.test(argv[0] ?? '')) continue;
    const i = argv.findIndex((a) => a === '-p' || a === '--port');
    const listens = i >= 0 ? Number(argv[i + 1]) : 4222;
    if (listens === port) return Number(entry);
  }
  return undefined;
}

export function loadAverage(): number[] {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
  } catch {
    return [];
  }
}
