/**
 * The hub's configuration: read from the environment once at start, validated,
 * frozen. A bad value fails fast naming the variable.
 */
import { EVENT_NAMES, isEventName } from '../protocol/catalogue.ts';
import { type Env, EnvSettings } from '../protocol/env-settings.ts';
import { isValidNamespace } from '../protocol/subjects.ts';
import type { LogFormat } from './logger.ts';

export interface HubConfig {
  /** Port for HTTP and WebSocket (`/ws`). 0 picks a free port. */
  readonly port: number;
  readonly host: string;
  /** NATS URL, or several comma-separated (every node of a cluster); undefined means "launch an embedded nats-server". */
  readonly natsUrl: string | undefined;
  /** Replicas of every stream and KV bucket the hub creates: 1 on one server, 3 on a 3-node cluster. */
  readonly streamReplicas: number;
  /** Where the embedded nats-server keeps its store, and dev secrets live. */
  readonly dataDir: string;
  /** Port of the embedded nats-server. */
  readonly embeddedNatsPort: number;
  readonly namespace: string;
  readonly auth: AuthConfig;
  /** Browser origins allowed to connect; empty means any (non-browser clients send no Origin). */
  readonly allowedOrigins: readonly string[];
  /** Token for `POST /api/events`; undefined disables ingest. */
  readonly serviceToken: string | undefined;
  readonly maxConnectionsPerUser: number;
  /** Largest client frame accepted, in bytes. */
  readonly maxFrameBytes: number;
  /** A socket that sent nothing for this long is closed (the client pings every 30 s). */
  readonly idleTimeoutMs: number;
  /** Bad frames tolerated per connection before it is closed. */
  readonly maxBadFrames: number;
  /** Retention of the notification and broadcast logs. */
  readonly notificationRetentionMs: number;
  /** Byte bound of the site (domain) log; 0 keeps everything. */
  readonly siteStreamMaxBytes: number;
  readonly logLevel: string;
  /** `auto` (readable on a terminal, JSON lines otherwise), `json` or `pretty`. */
  readonly logFormat: LogFormat;
  /** A socket with more than this buffered is slow: latest-value traffic to it is shed. */
  readonly socketBudgetBytes: number;
  /** A socket that cannot take more than this is closed (4509) and resumes without loss. */
  readonly socketHardLimitBytes: number;
  /** A critical event not acked within this is resent on the same connection. */
  readonly ackTimeoutMs: number;
  /** How often acked positions are written to the durable cursors, at most once per user each time. */
  readonly cursorFlushMs: number;
  /** A redelivery of more critical events than this (due and unacked, per log) closes the socket (4509). */
  readonly maxUnackedCritical: number;
  /** Events per log kept in memory for resumes to hand over to live. */
  readonly recentEvents: number;
  /** Payload bytes per log the recent window may hold. */
  readonly recentBytes: number;
  /** Sessions are warned (`auth:expiring`) this long before their token expires. */
  readonly tokenWarningMs: number;
  /** Roles allowed to acknowledge alarms (`alarm:ack`). */
  readonly alarmAckRoles: readonly string[];
  /**
   * New connections accepted per client address per second (bursts up to twice that). Generous: a
   * plant's dashboards often share one NAT address and all reconnect at once after a network blip.
   */
  readonly connectionsPerIpPerSecond: number;
  /** Subscriptions one connection may hold. */
  readonly maxSubscriptions: number;
  /** Operations per second one connection may send (bursts up to twice that). */
  readonly commandsPerSecond: number;
  /** Largest `POST /api/events` body, in bytes. */
  readonly maxIngestBytes: number;
  /** On SIGTERM, how long sessions get to close before the process exits anyway. */
  readonly drainTimeoutMs: number;
  /** Events only some roles receive (event name → roles); events not named reach every role. */
  readonly eventRoles: ReadonlyMap<string, readonly string[]>;
  /** Serve Socket.IO clients (path `/socket.io/`, namespace `/ws`) beside the native protocol. */
  readonly socketIo: boolean;
  /** How long a disconnected Socket.IO client can recover its session (subscriptions and missed events). */
  readonly socketIoRecoveryMs: number;
  /**
   * How long a topic's frames are held to go out together (0: within the tick that published them). Fewer writes
   * per socket for that much latency, as Centrifugo's write delay; critical events are never held.
   */
  readonly writeDelayMs: number;
  /** A write window closes early once it holds this many frames of one wire format: it bounds what the delay costs. */
  readonly writeMaxFrames: number;
  /** Per-event metrics (counts by event, latency); off only to measure what they cost. */
  readonly eventMetrics: boolean;
  /** Rate limits of the `/api/*` routes (docs/http-api.md). */
  readonly httpLimits: HttpLimits;
  /** Roles whose tokens may export every log (`GET /api/events/:stream`), every site and user; others get their own. */
  readonly analystRoles: readonly string[];
  /** An export whose client takes nothing for this long is cut, and its consumer deleted. */
  readonly exportStallMs: number;
  /** A hub that stops (crashes) leaves the other hubs' online counts within this; it beats every quarter of it. */
  readonly presenceTtlMs: number;
}

/** Requests per second with bursts; a rate of 0 switches that limit off. */
export interface HttpLimits {
  /** Per user (a verified JWT's user key). */
  readonly perToken: { readonly rate: number; readonly burst: number };
  /** Per client address (the TCP peer: behind a proxy, the proxy's). */
  readonly perAddress: { readonly rate: number; readonly burst: number };
  /** For the service token (ingest), instead of the address limit. */
  readonly service: { readonly rate: number; readonly burst: number };
  /** Exports (event streams) one token may run at once; each holds a JetStream consumer. */
  readonly exportsPerToken: number;
}

export interface AuthConfig {
  /** HS256 secret. */
  readonly secret: string | undefined;
  /** URL of a JSON Web Key Set for asymmetric keys. */
  readonly jwksUrl: string | undefined;
  /** PEM (SPKI) public key for asymmetric keys. */
  readonly publicKey: string | undefined;
  /** Algorithms accepted with a public key or JWKS. */
  readonly algorithms: readonly string[];
  readonly audience: string | undefined;
  readonly issuer: string | undefined;
  /**
   * The longest a token without `exp` is accepted: it expires this long after its `iat` (or, without `iat`,
   * after it was presented). 0 refuses tokens without `exp`.
   */
  readonly maxTokenLifetimeMs: number;
  /** Claims that may carry the user id, tried in order: the hub's own tokens use `sub`, the seed's `userId`. */
  readonly userClaims: readonly string[];
  /** Claim with the granted site ids (a list, or `"*"`). */
  readonly sitesClaim: string;
  /** Claim with one granted site id (the seed's `siteId`); added to the list claim's. */
  readonly siteClaim: string;
  /** Claims with a role or a list of roles, read in order: the first role found is the grant's primary role. */
  readonly roleClaims: readonly string[];
  /** Roles that see every site, whatever the site claims say (the seed's admins carry no site list). */
  readonly allSitesRoles: readonly string[];
}

/** A configuration value that cannot be used. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const DAY_MS = 86_400_000;
/**
 * Chosen from the fan-out bench (docs/scaling.md#write-coalescing): 45 ms pairs a site's events 40 ms apart
 * (25,000 deliveries/s over 10 sites) and groups them in threes at 20 ms, which put the hub under bare uWS's
 * CPU per delivery with p99 ≤ 50 ms; a lone event waits nothing.
 */
const DEFAULT_WRITE_DELAY_MS = 45;

export function loadConfig(env: Env = process.env, overrides: Partial<HubConfig> = {}): HubConfig {
  const settings = new EnvSettings(env, (message) => new ConfigError(message));
  const namespace = env.HUB_NAMESPACE ?? 'plant';
  if (!isValidNamespace(namespace)) throw new ConfigError(`HUB_NAMESPACE=${JSON.stringify(namespace)} must match [A-Za-z0-9_-]{1,32}`);
  const auth: AuthConfig = {
    secret: settings.text('HUB_JWT_SECRET'),
    jwksUrl: settings.url('HUB_JWKS_URL'),
    publicKey: settings.text('HUB_JWT_PUBLIC_KEY'),
    algorithms: settings.list('HUB_JWT_ALGORITHMS') ?? ['RS256', 'ES256', 'EdDSA'],
    audience: settings.text('HUB_JWT_AUDIENCE'),
    issuer: settings.text('HUB_JWT_ISSUER'),
    userClaims: settings.list('HUB_JWT_USER_CLAIM') ?? ['sub', 'userId', 'id'],
    sitesClaim: claimName(settings, 'HUB_JWT_SITES_CLAIM', 'sites'),
    siteClaim: claimName(settings, 'HUB_JWT_SITE_CLAIM', 'siteId'),
    roleClaims: settings.list('HUB_JWT_ROLE_CLAIM') ?? ['role', 'roles'],
    allSitesRoles: roles(settings, 'HUB_ALL_SITES_ROLES', ['admin']),
    maxTokenLifetimeMs: settings.int('HUB_MAX_TOKEN_LIFETIME_MS', DAY_MS, 0, 365 * DAY_MS),
  };
  if (auth.secret !== undefined && auth.secret.length < 32) throw new ConfigError('HUB_JWT_SECRET must be at least 32 characters (HS256 needs a 256-bit key)');
  if (auth.jwksUrl !== undefined && auth.publicKey !== undefined) throw new ConfigError('set HUB_JWKS_URL or HUB_JWT_PUBLIC_KEY, not both');
  if (auth.userClaims.length === 0) throw new ConfigError('HUB_JWT_USER_CLAIM must name at least one claim');
  const config: HubConfig = {
    port: settings.int('HUB_PORT', 3000, 0, 65535),
    host: env.HUB_HOST ?? '0.0.0.0',
    natsUrl: settings.natsUrl('NATS_URL'),
    streamReplicas: settings.int('HUB_STREAM_REPLICAS', 1, 1, 5),
    dataDir: env.HUB_DATA_DIR ?? 'data',
    embeddedNatsPort: settings.int('HUB_EMBEDDED_NATS_PORT', 4223, 1, 65535),
    namespace,
    auth,
    allowedOrigins: settings.list('HUB_ALLOWED_ORIGINS') ?? [],
    serviceToken: settings.text('HUB_SERVICE_TOKEN'),
    maxConnectionsPerUser: settings.int('HUB_MAX_CONNECTIONS_PER_USER', 10, 1, 1_000_000),
    maxFrameBytes: settings.int('HUB_MAX_FRAME_BYTES', 64 * 1024, 256, 16 * 1024 * 1024),
    idleTimeoutMs: settings.int('HUB_IDLE_TIMEOUT_MS', 60_000, 1000, DAY_MS),
    maxBadFrames: settings.int('HUB_MAX_BAD_FRAMES', 10, 1, 1_000_000),
    notificationRetentionMs: settings.int('HUB_NOTIFICATION_RETENTION_MS', 30 * DAY_MS, 60_000, 3650 * DAY_MS),
    siteStreamMaxBytes: settings.int('HUB_SITE_STREAM_MAX_BYTES', 0, 0, Number.MAX_SAFE_INTEGER),
    logLevel: settings.oneOf('HUB_LOG_LEVEL', LOG_LEVELS, 'info'),
    logFormat: settings.oneOf('HUB_LOG_FORMAT', ['auto', 'json', 'pretty'], 'auto') as LogFormat,
    socketBudgetBytes: settings.int('HUB_SOCKET_BUDGET_BYTES', 1024 * 1024, 1024, 1 << 30),
    socketHardLimitBytes: settings.int('HUB_SOCKET_HARD_LIMIT_BYTES', 8 * 1024 * 1024, 2048, 1 << 30),
    ackTimeoutMs: settings.int('HUB_ACK_TIMEOUT_MS', 10_000, 100, DAY_MS),
    cursorFlushMs: settings.int('HUB_CURSOR_FLUSH_MS', 1000, 10, 60_000),
    maxUnackedCritical: settings.int('HUB_MAX_UNACKED_CRITICAL', 1000, 1, 1_000_000),
    recentEvents: settings.int('HUB_RECENT_EVENTS', 10_000, 16, 10_000_000),
    recentBytes: settings.int('HUB_RECENT_BYTES', 64 * 1024 * 1024, 1024, Number.MAX_SAFE_INTEGER),
    tokenWarningMs: settings.int('HUB_TOKEN_WARNING_MS', 60_000, 0, DAY_MS),
    alarmAckRoles: settings.list('HUB_ALARM_ACK_ROLES') ?? ['operator', 'supervisor', 'admin'],
    connectionsPerIpPerSecond: settings.int('HUB_CONNECTIONS_PER_IP_PER_SECOND', 200, 1, 1_000_000),
    maxSubscriptions: settings.int('HUB_MAX_SUBSCRIPTIONS', 200, 1, 1_000_000),
    commandsPerSecond: settings.int('HUB_COMMANDS_PER_SECOND', 50, 1, 1_000_000),
    maxIngestBytes: settings.int('HUB_MAX_INGEST_BYTES', 1_048_576, 1024, 64 * 1024 * 1024),
    drainTimeoutMs: settings.int('HUB_DRAIN_TIMEOUT_MS', 10_000, 0, 600_000),
    eventMetrics: settings.onOff('HUB_EVENT_METRICS', true),
    writeDelayMs: settings.int('HUB_WRITE_DELAY_MS', DEFAULT_WRITE_DELAY_MS, 0, 1000),
    writeMaxFrames: settings.int('HUB_WRITE_MAX_FRAMES', 16, 1, 10_000),
    eventRoles: eventRoles(settings, 'HUB_EVENT_ROLES'),
    socketIo: settings.onOff('HUB_SOCKETIO', true),
    socketIoRecoveryMs: settings.int('HUB_SOCKETIO_RECOVERY_MS', DAY_MS, 1000, 365 * DAY_MS),
    httpLimits: httpLimits(settings),
    analystRoles: roles(settings, 'HUB_ANALYST_ROLES', ['analyst', 'admin']),
    exportStallMs: settings.int('HUB_EXPORT_STALL_MS', 60_000, 100, DAY_MS),
    presenceTtlMs: settings.int('HUB_PRESENCE_TTL_MS', 15_000, 1000, 120_000),
    ...overrides,
  };
  if (config.socketHardLimitBytes <= config.socketBudgetBytes) throw new ConfigError('HUB_SOCKET_HARD_LIMIT_BYTES must be larger than HUB_SOCKET_BUDGET_BYTES');
  if (config.serviceToken !== undefined && config.serviceToken.length < 16) throw new ConfigError('HUB_SERVICE_TOKEN must be at least 16 characters');
  return Object.freeze(config);
}

function httpLimits(settings: EnvSettings): HttpLimits {
  const bucket = (name: string, rate: number) => {
    const r = settings.int(`HUB_HTTP_RATE_${name}`, rate, 0, 1_000_000);
    const burst = settings.int(`HUB_HTTP_BURST_${name}`, Math.max(1, r * 2), 1, 10_000_000);
    return Object.freeze({ rate: r, burst });
  };
  return Object.freeze({
    perToken: bucket('PER_TOKEN', 20),
    perAddress: bucket('PER_ADDRESS', 100),
    service: bucket('SERVICE', 1000),
    exportsPerToken: settings.int('HUB_HTTP_EXPORTS_PER_TOKEN', 4, 1, 10_000),
  });
}

/** pino's levels: an unknown one would only fail later, inside the logger, without the variable's name. */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** `event=role,role;event=role`: which roles receive an event. */
function eventRoles(settings: EnvSettings, name: string): ReadonlyMap<string, readonly string[]> {
  const raw = settings.text(name);
  const rules = new Map<string, readonly string[]>();
  if (raw === undefined) return rules;
  for (const rule of raw.split(';').map((r) => r.trim()).filter((r) => r.length > 0)) {
    const eq = rule.indexOf('=');
    const event = eq < 0 ? rule : rule.slice(0, eq).trim();
    const roles = eq < 0 ? [] : rule.slice(eq + 1).split(',').map((r) => r.trim()).filter((r) => r.length > 0);
    if (!isEventName(event)) throw settings.fail(`${name}: ${JSON.stringify(event)} is not an event name (one of ${EVENT_NAMES.join(', ')})`);
    if (roles.length === 0) throw settings.fail(`${name}: ${event} needs at least one role (event=role,role;…)`);
    if (rules.has(event)) throw settings.fail(`${name}: ${event} is named twice`);
    rules.set(event, roles);
  }
  return rules;
}

/** One claim name: a list here would be a misread setting, not a wish. */
function claimName(settings: EnvSettings, name: string, fallback: string): string {
  const raw = settings.text(name);
  if (raw === undefined) return fallback;
  if (raw.includes(',') || /\s/.test(raw)) throw settings.fail(`${name}=${JSON.stringify(raw)} must be one claim name`);
  return raw;
}

/** A role list; `none` says "no role at all", since an empty value means "the default". */
function roles(settings: EnvSettings, name: string, fallback: string[]): string[] {
  const raw = settings.list(name);
  if (raw === undefined) return fallback;
  return raw.length === 1 && raw[0] === 'none' ? [] : raw;
}
