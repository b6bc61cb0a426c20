/**
 * `npm start`: the hub and its projection workers (hub/server.ts), from the
 * environment, until SIGINT or SIGTERM.
 */
import { CommandLine } from '../protocol/cli/index.ts';
import { type Server, startServer } from './server.ts';
import { startFailure } from './start-failure.ts';

new CommandLine({
  name: 'npm start',
  usage: 'usage: npm start',
  details: `Starts the hub (HTTP and WebSocket on HUB_PORT, default 3000) with its projection
workers, until Ctrl-C or SIGTERM. Takes no options: it is configured by the
environment (README, Configuration). With nothing set it launches nats-server on
127.0.0.1:4223, keeps the views in an embedded database under data/, signs with a
development secret (mint tokens with npm run token) and, so, listens on
127.0.0.1 only unless HUB_HOST is set.`,
  options: {},
}).parse();

async function main(): Promise<void> {
  // Signals are heard from the first moment: Ctrl-C while NATS is still awaited stops the start cleanly.
  const starting = new AbortController();
  let server: Server | undefined;
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    if (server === undefined) return starting.abort(new Error(`${signal} while starting`));
    const { log, config } = server;
    log.info({ signal }, 'stopping: refusing new sockets, closing sessions with 4503, flushing cursors, finishing the batch in hand');
    // Bounded: a stuck flush must not keep a rolling restart waiting.
    const timeout = new Promise((resolve) => setTimeout(resolve, config.drainTimeoutMs).unref());
    await Promise.race([server.stop(), timeout]);
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  try {
    server = await startServer({ signal: starting.signal });
  } catch (e) {
    if (starting.signal.aborted) process.exit(0);
    const failure = startFailure(e, (held) => `process ${held.holder} (another hub, or npm run demo) holds the embedded database ${held.path}: stop it, or give this hub its own HUB_DATA_DIR, HUB_PORT and HUB_EMBEDDED_NATS_PORT, or set DATABASE_URL to share a real Postgres`);
    console.error(failure.message);
    process.exit(failure.exitCode);
  }
}

void main();
