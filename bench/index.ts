/**
 * The bench as a library (the command line is main.ts): run a scenario against a
 * target from code, summarize and chart results. Used by the smoke tests.
 *
 * @example
 * const c = parseCommand(['fanout', '--clients', '200', '--sites', '20']);
 * if (c.command === 'run') console.log((await scenarios.fanout({ options: c.options, target: 'hub', repeat: 1, cpuProfDir: undefined })).headline);
 */
export { type BenchCommand, type BenchOptions, OptionError, parseCommand, SCENARIOS, type ScenarioName, TARGETS, type TargetName } from './options.ts';
export { scenarios, type Scenario, type ScenarioRun } from './scenarios/index.ts';
export type { Headline, PhaseResult, RunResult } from './run-result.ts';
export { type Comparison, summarizeRuns } from './report/summary.ts';
export { chartPoints, renderChart } from './report/latency-chart.ts';
export { readResults, type ResultsFile } from './report/results-file.ts';
