/** The JSON a run leaves behind: what ran, where, on what machine, every run's figures, and the summary. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchOptions } from '../options.ts';
import { loadAverage } from '../proc-stats.ts';
import type { RunResult } from '../run-result.ts';
import type { Comparison } from './summary.ts';

export const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

export interface MachineInfo {
  readonly cpuModel: string;
  readonly cpus: number;
  readonly memoryGB: number;
  readonly kernel: string;
  readonly node: string;
  readonly natsServer: string | null;
  readonly uws: string;
  readonly loadAverageAtStart: readonly number[];
}

/** Which code ran: the commit, and the files of hub/ and protocol/ that differed from it. */
export interface SourceInfo {
  readonly commit: string | null;
  readonly modified: readonly string[];
}

export function sourceInfo(): SourceInfo {
  try {
    const opts = { encoding: 'utf8' as const, cwd: fileURLToPath(new URL('../..', import.meta.url)) };
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], opts).trim();
    const modified = execFileSync('git', ['status', '--porcelain', '--', 'hub', 'protocol'], opts).split('\n').filter((l) => l.trim() !== '').map((l) => l.slice(3));
    return { commit, modified };
  } catch {
    return { commit: null, modified: [] };
  }
}

export interface ResultsFile {
  readonly tool: 'plant-hub-bench';
  readonly version: 1;
  readonly createdAt: string;
  readonly command: string;
  readonly machine: MachineInfo;
  readonly source: SourceInfo;
  readonly options: BenchOptions;
  readonly runs: readonly RunResult[];
  readonly summary: Comparison;
  /** Runs that could not complete, with why. */
  readonly failures?: readonly string[];
}

export function machineInfo(uws: string): MachineInfo {
  let nats: string | null = null;
  try {
    nats = execFileSync('nats-server', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    // not installed here: the hub target will say so when it cannot connect
  }
  const c = cpus();
  return { cpuModel: c[0]?.model ?? 'unknown', cpus: c.length, memoryGB: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version, natsServer: nats, uws, loadAverageAtStart: loadAverage() };
}

/** Writes the file (to `out`, a directory for `<timestamp>.json` or a file path) and returns its path. */
export function writeResults(file: ResultsFile, out: string | undefined): string {
  const stamp = file.createdAt.replace(/[:.]/g, '-');
  let path = join(RESULTS_DIR, `${stamp}-${file.options.scenario}.json`);
  if (out !== undefined) path = isDirectory(out) || out.endsWith('/') ? join(out, `${stamp}-${file.options.scenario}.json`) : out;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(file, null, 2) + '\n');
  return path;
}

/** A results file written by this bench, or a clear error. */
export function readResults(path: string): ResultsFile {
  const data = JSON.parse(readFileSync(path, 'utf8')) as Partial<ResultsFile>;
  if (data.tool !== 'plant-hub-bench' || !Array.isArray(data.runs)) throw new Error(`${path} is not a bench results file`);
  return data as ResultsFile;
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
