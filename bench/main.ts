/**
 * `npm run bench -- <scenario> [options]`: runs a scenario against the hub (its
 * native protocol or its Socket.IO face), the Socket.IO baseline or bare
 * uWebSockets.js (or several: --targets, --compare), prints
 * the figures and writes them as JSON. `npm run bench -- chart <json>…` draws them.
 * `npm run bench -- append` measures WebSocketService's outbox against bare JetStream (bench/append.ts);
 * `npm run bench -- presence` online counts at 100,000 simulated users over three hubs (bench/presence.ts).
 * `npm run bench -- resume-slow` resumes a large backlog over a throttled link (bench/resume-slow.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { uwsRuntime } from '../hub/uws.ts';
import { runAppendBench } from './append.ts';
import { runPresenceBench } from './presence.ts';
import { raiseFileLimit } from './child-server.ts';
import { runResumeSlowBench } from './resume-slow.ts';
import { type BenchOptions, HELP, OptionError, parseCommand } from './options.ts';
import { busyPercent, machineTicks } from './proc-stats.ts';
import { chartPoints, renderChart } from './report/latency-chart.ts';
import { formatVerdicts } from './report/goals.ts';
import { machineInfo, readResults, RESULTS_DIR, sourceInfo, writeResults } from './report/results-file.ts';
import { summarizeRuns } from './report/summary.ts';
import { describeRun, formatComparison, formatRun } from './report/table.ts';
import type { RunResult } from './run-result.ts';
import { scenarios } from './scenarios/index.ts';

async function main(argv: readonly string[]): Promise<number> {
  // Producer-side, no WebSocket clients or targets: its own small command line.
  if (argv[0] === 'append') return runAppendBench(argv.slice(1));
  // Presence at 100,000 simulated users over simulated hubs: no sockets either (bench/presence.ts).
  if (argv[0] === 'presence') return runPresenceBench(argv.slice(1));
  // A correctness goal over a slow link (issue 11), counted per run: its own small command line too.
  if (argv[0] === 'resume-slow') return runResumeSlowBench(argv.slice(1));
  let command;
  try {
    command = parseCommand(argv, process.env);
  } catch (e) {
    if (!(e instanceof OptionError)) throw e;
    console.error(`bench: ${e.message}`);
    return 2;
  }
  if (command.command === 'help') {
    console.log(HELP);
    return 0;
  }
  if (command.command === 'chart') {
    const files = command.inputs.map(readResults);
    const first = files[0]!;
    const title = `${first.options.scenario}: latency vs delivered rate (${files.map((f) => [...new Set(f.runs.map((r) => r.target))].join(', ')).join('; ')})`;
    const svg = renderChart(chartPoints(files), { title, boundMs: command.maxP99Ms });
    const out = command.out ?? command.inputs[0]!.replace(/\.json$/, '') + '.svg';
    writeFileSync(out, svg);
    console.log(`chart written to ${out}`);
    return 0;
  }
  return run(command.options);
}

async function run(o: BenchOptions): Promise<number> {
  if (uwsRuntime === 'fallback') {
    console.error('bench: uWebSockets.js is running its slow ws fallback (its native binary did not load); figures would be meaningless, so the bench refuses to run');
    return 3;
  }
  raiseFileLimit(process.pid);
  const createdAt = new Date().toISOString();
  const machine = machineInfo(uwsRuntime);
  const source = sourceInfo();
  const profileRoot = o.cpuProf ? join(RESULTS_DIR, 'profiles', createdAt.replace(/[:.]/g, '-')) : undefined;
  if (!o.quiet) console.log(`${describeRun(o)}\nmachine: ${machine.cpus}× ${machine.cpuModel}, ${machine.memoryGB} GB, Node ${machine.node}, ${machine.natsServer ?? 'no nats-server'}, load average ${machine.loadAverageAtStart.join(' ')}\ncode: ${source.commit ?? '?'}${source.modified.length > 0 ? ` + uncommitted changes in ${source.modified.join(', ')}` : ''}\n`);
  const runs: RunResult[] = [];
  const failures: string[] = [];
  // Targets take turns within each repetition, so a drift in the machine's load touches them alike.
  for (let repeat = 1; repeat <= o.repeat; repeat++) {
    for (const target of o.targets) {
      const cpuProfDir = profileRoot === undefined ? undefined : join(profileRoot, `${target}-${repeat}`);
      if (cpuProfDir !== undefined) mkdirSync(cpuProfDir, { recursive: true });
      const busy = o.waitIdlePercent > 0 ? await waitForIdle(o.waitIdlePercent) : undefined;
      if (!o.quiet) console.log(`running ${o.scenario} against ${target} (${repeat}/${o.repeat})${busy === undefined ? '' : `, machine ${Math.round(busy)}% busy before`} …`);
      try {
        let result = await scenarios[o.scenario]({ options: o, target, repeat, cpuProfDir });
        if (busy !== undefined) result = { ...result, notes: [...result.notes, `machine ${Math.round(busy)}% busy just before the run`] };
        runs.push(result);
        if (!o.quiet) console.log(formatRun(result) + '\n');
      } catch (e) {
        const message = `${target} #${repeat}: ${(e as Error).message}`;
        failures.push(message);
        console.error(`bench: run failed: ${message}`);
      }
    }
  }
  if (runs.length === 0) return 1;
  const summary = summarizeRuns(runs);
  console.log(formatComparison(summary, o));
  if (summary.goals.length > 0) console.log(`\n${formatVerdicts(summary.goals)}`);
  if (o.json) {
    const path = writeResults({ tool: 'plant-hub-bench', version: 1, createdAt, command: `npm run bench -- ${process.argv.slice(2).join(' ')}`, machine, source, options: o, runs, summary, ...(failures.length > 0 ? { failures } : {}) }, o.out);
    console.log(`\nresults: ${path}`);
  }
  if (profileRoot !== undefined) console.log(`CPU profiles (open in Chrome DevTools or speedscope): ${profileRoot}`);
  return failures.length > 0 ? 1 : 0;
}

/** Waits until the machine is at most `percent` busy over a second, twice in a row; gives up after two minutes. */
async function waitForIdle(percent: number): Promise<number> {
  const deadline = Date.now() + 120_000;
  let calm = 0;
  let busy = 100;
  while (Date.now() < deadline && calm < 2) {
    const a = machineTicks();
    await new Promise((r) => setTimeout(r, 1000));
    busy = busyPercent(a, machineTicks()) ?? 0;
    calm = busy <= percent ? calm + 1 : 0;
  }
  return busy;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(`bench: ${e.stack ?? e.message}`);
    process.exit(1);
  },
);
