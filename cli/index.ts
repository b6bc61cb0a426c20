/**
 * The command-line helpers every CLI shares (hub, projections, bench). Node-only
 * and a leaf: it imports nothing of the project, so projections may use it
 * without importing hub, and nothing a browser loads from protocol reaches it.
 */
export { CommandLine, type CommandLineSpec } from './command-line.ts';
export { connectForCommand, NatsUnreachableError } from './connect-nats.ts';
export { runCommand } from './run-command.ts';
