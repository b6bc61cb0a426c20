/**
 * `npm run demo`: the whole product on one machine. Starts the hub with its
 * projection workers (as `npm start`), a simulated plant of several sites
 * appending batches, trucks, orders, stock movements and now and then an alarm,
 * and serves the live dashboard at http://localhost:<HUB_PORT>/.
 * DEMO_SITES (default 3) and DEMO_RATE (events per second, default 20) shape it.
 */
import { SignJWT } from 'jose';
import { CommandLine } from '../../protocol/cli/index.ts';
import { startServer } from '../../hub/server.ts';
import { HubPublisher } from '../../protocol/publisher.ts';
import { startFailure } from '../start-failure.ts';
import { buildDashboardPage, mountDashboardPage } from './dashboard-page.ts';
import { PlantSimulator } from './plant-simulator.ts';

const cli = new CommandLine({
  name: 'npm run demo',
  usage: 'usage: npm run demo',
  details: `Starts a hub of its own with its projection workers (as npm start does), a simulated
plant appending batches, trucks, orders, stock movements and alarms, and the live
dashboard at http://localhost:<HUB_PORT, default 3000>/. Stop npm start first, or
give the demo its own data and ports:
  HUB_DATA_DIR=data/demo HUB_PORT=3001 HUB_EMBEDDED_NATS_PORT=4224 npm run demo

  DEMO_SITES   number of sites, 1 to 100 (default 3)
  DEMO_RATE    events per second, up to 10000 (default 20)
and the hub's variables (README, Configuration).`,
  options: {},
});
cli.parse();
const sites = Number(process.env.DEMO_SITES ?? 3);
const rate = Number(process.env.DEMO_RATE ?? 20);
if (!Number.isInteger(sites) || sites < 1 || sites > 100) cli.fail(`DEMO_SITES=${JSON.stringify(process.env.DEMO_SITES)} must be an integer from 1 to 100`);
if (!(rate > 0 && rate <= 10_000)) cli.fail(`DEMO_RATE=${JSON.stringify(process.env.DEMO_RATE)} must be a number of events per second above 0, up to 10000`);

const page = await buildDashboardPage();
let secret: Uint8Array | undefined;
let server;
try {
  server = await startServer({
    mount: (app) =>
      mountDashboardPage(app, page, async () => {
        // An operator of every site, for the demo page only.
        return new SignJWT({ sites: '*', role: 'operator' }).setProtectedHeader({ alg: 'HS256' }).setSubject('demo-operator').setIssuedAt().setExpirationTime('12h').sign(secret!);
      }),
  });
} catch (e) {
  // Most often: `npm start` is running, and the demo's own hub cannot open the database it holds.
  const failure = startFailure(
    e,
    (held) =>
      `npm run demo starts a hub of its own, and process ${held.holder} (npm start, or another demo) holds the embedded database ${held.path}: stop it first (Ctrl-C in its terminal), or run the demo beside it on its own data and ports: HUB_DATA_DIR=data/demo HUB_PORT=3001 HUB_EMBEDDED_NATS_PORT=4224 npm run demo`,
  );
  console.error(failure.message);
  process.exit(failure.exitCode);
}
const { config, log } = server;
if (config.auth.secret === undefined) {
  console.error('npm run demo signs its page token with HUB_JWT_SECRET (or the development secret): unset HUB_JWKS_URL / HUB_JWT_PUBLIC_KEY');
  await server.stop();
  process.exit(2);
}
secret = new TextEncoder().encode(config.auth.secret);
const publisher = await HubPublisher.connect({ servers: config.natsUrl!, namespace: config.namespace, name: 'demo-plant' });
const simulator = new PlantSimulator(publisher, { sites: Array.from({ length: sites }, (_, i) => String(i + 1)), seed: Date.now() % 100_000, run: Date.now().toString(36) }, log).start(rate);
log.info({ url: `http://localhost:${server.hub.port}/`, sites, eventsPerSecond: rate }, `demo running: open http://localhost:${server.hub.port}/`);

let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  simulator.stop();
  await publisher.close().catch(() => {});
  await server.stop();
  process.exit(0);
};
process.on('SIGINT', () => void shutdown());
process.on('SIGTERM', () => void shutdown());
