/**
 * The command-line helpers every CLI shares (hub, projections, bench). Node-only
 * and a leaf: it imports nothing of the project. It sits under protocol/ because
 * that is the folder hub and projections both import (projections never import
 * hub; the project keeps five top folders), with an entry of its own that neither
 * the browser entry (protocol/index.ts) nor package.json's exports reach.
 */
export { CommandLine, type CommandLineSpec } from './command-line.ts';
export { connectForCommand, NatsUnreachableError } from './connect-nats.ts';
export { runCommand } from './run-command.ts';
