/**
 * Settings read from the environment, each checked once at start: a bad value
 * fails with the variable's name and what it must be, through the caller's own
 * error class (the hub's ConfigError, the projections' ProjectionsConfigError).
 */
import { natsServers } from './nats-servers.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export class EnvSettings {
  readonly #env: Env;
  readonly #fail: (message: string) => Error;

  /**
   * @example
   * const settings = new EnvSettings(process.env, (m) => new ConfigError(m));
   * const port = settings.int('HUB_PORT', 3000, 0, 65535);
   */
  constructor(env: Env, fail: (message: string) => Error) {
    this.#env = env;
    this.#fail = fail;
  }

  /** The error for a bad value, in the caller's class. */
  fail(message: string): Error {
    return this.#fail(message);
  }

  /** The trimmed value, or undefined when unset or blank (blank means "the default"). */
  text(name: string): string | undefined {
    const v = this.#env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const raw = this.text(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw this.#fail(`${name}=${JSON.stringify(raw)} must be an integer from ${min} to ${max}`);
    return n;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.text(name);
    if (raw === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(raw)) throw this.#fail(`${name}=${JSON.stringify(raw)} must be one of ${allowed.join(', ')}`);
    return raw as T;
  }

  onOff(name: string, fallback: boolean): boolean {
    const raw = this.text(name);
    if (raw === undefined) return fallback;
    if (raw === 'on') return true;
    if (raw === 'off') return false;
    throw this.#fail(`${name}=${JSON.stringify(raw)} must be on or off`);
  }

  /** A comma-separated list, empty entries dropped. */
  list(name: string): string[] | undefined {
    const raw = this.text(name);
    return raw === undefined ? undefined : raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  }

  /** One NATS URL or a comma-separated list; each entry checked here, so a typo fails at start, not on connect. */
  natsUrl(name: string): string | undefined {
    const raw = this.text(name);
    if (raw === undefined) return undefined;
    try {
      natsServers(raw);
    } catch (e) {
      throw this.#fail(`${name}=${JSON.stringify(raw)}: ${(e as Error).message}`);
    }
    return raw;
  }

  url(name: string): string | undefined {
    const raw = this.text(name);
    if (raw === undefined) return undefined;
    try {
      new URL(raw);
    } catch {
      throw this.#fail(`${name}=${JSON.stringify(raw)} is not a URL`);
    }
    return raw;
  }
}
