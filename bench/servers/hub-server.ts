/**
 * The hub under test, in its own process: exactly what `npm start` runs
 * (Hub.start with the configuration from the environment), plus the bench's IPC.
 * The bench sets NATS_URL, a namespace of its own, the JWT secret and the port.
 */
import { loadConfig } from '../../hub/config.ts';
import { Hub } from '../../hub/hub.ts';
import { createLogger } from '../../hub/logger.ts';
import { uwsRuntime } from '../../hub/uws.ts';
import { fatal, serveBench } from './child-ipc.ts';

if (uwsRuntime === 'fallback') fatal('uWebSockets.js runs its ws fallback, not the native binary: the bench refuses to measure it');
const config = loadConfig(process.env);
const hub = await Hub.start(config, createLogger(config.logLevel));
serveBench(hub.port, { uws: uwsRuntime, namespace: config.namespace }, { stop: () => hub.stop() });
