/**
 * `npm start`: the hub and its projection workers (hub/server.ts), from the
 * environment, until SIGINT or SIGTERM.
 */
import { ProjectionsConfigError } from '../projections/config.ts';
import { DatabaseInUseError } from '../projections/database.ts';
import { ConfigError } from './config.ts';
import { startServer } from './server.ts';

async function main(): Promise<void> {
  let server;
  try {
    server = await startServer();
  } catch (e) {
    if (e instanceof ConfigError || e instanceof ProjectionsConfigError || e instanceof DatabaseInUseError) {
      console.error(`configuration error: ${e.message}`);
      process.exit(2);
    }
    throw e;
  }
  const { log, config } = server;
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: refusing new sockets, closing sessions with 4503, flushing cursors, finishing the batch in hand');
    // Bounded: a stuck flush must not keep a rolling restart waiting.
    const timeout = new Promise((resolve) => setTimeout(resolve, config.drainTimeoutMs).unref());
    await Promise.race([server.stop(), timeout]);
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((e: Error) => {
  console.error(`hub failed to start: ${e.message}`);
  process.exit(1);
});
