/**
 * Browser end-to-end support: bundles an entry for browsers with esbuild, serves
 * pages on 127.0.0.1, and launches the machine's headless Chromium through
 * playwright-core. Chromium is required (apt-get install chromium, or CHROMIUM_PATH):
 * without it each browser suite fails with one line saying so (describeWithChromium).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { describe, it } from 'node:test';
import { build } from 'esbuild';
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Headless, sandbox-free (containers), and quiet: no first-run, update or sync traffic. */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Why the browser suites cannot run on this machine, or undefined when they can. */
export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `Chromium not found at ${CHROMIUM}: the browser tests need it; install it (Debian: apt-get install chromium; or bash .ci/run) or set CHROMIUM_PATH to a Chromium or Chrome binary`;
}

/**
 * A browser suite: `body` runs as a describe() when Chromium is installed. Without it, the suite is one
 * failing test whose report is that single line: no hub or database started, nothing left to time out.
 */
export function describeWithChromium(name: string, body: () => void): void {
  const missing = chromiumMissing();
  if (missing === undefined) {
    describe(name, body);
    return;
  }
  describe(name, () => {
    it('needs Chromium', () => {
      const e = new Error(missing);
      e.stack = missing; // the line says what to do; where it was thrown from is no help
      throw e;
    });
  });
}

export async function launchChromium(): Promise<Browser> {
  const missing = chromiumMissing();
  assert.ok(missing === undefined, missing);
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/**
 * Bundles `entry` (an absolute path) as a browser ES module, as a web app's build would.
 * `platform: 'browser'` makes any `node:` import fail the build.
 */
export async function bundleForBrowser(entry: string, define: Record<string, string> = {}): Promise<string> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"development"', ...define },
  });
  return result.outputFiles[0]!.text;
}

export interface Asset {
  readonly type: string;
  readonly body: string;
}

/** A static HTTP server for test pages: path → asset. */
export class PageServer {
  readonly #server: Server;
  readonly origin: string;

  private constructor(server: Server, origin: string) {
    this.#server = server;
    this.origin = origin;
  }

  static start(assets: Readonly<Record<string, Asset>>): Promise<PageServer> {
    const server = createServer((req, res) => {
      const asset = assets[new URL(req.url ?? '/', 'http://x').pathname];
      if (asset === undefined) res.writeHead(404).end();
      else res.writeHead(200, { 'content-type': `${asset.type}; charset=utf-8` }).end(asset.body);
    });
    return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(new PageServer(server, `http://127.0.0.1:${(server.address() as { port: number }).port}`))));
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.closeAllConnections();
      this.#server.close(() => resolve());
    });
  }
}

/** A page that loads one module script. */
export function modulePage(title: string, script: string): Asset {
  return { type: 'text/html', body: `<!doctype html><meta charset="utf-8"><title>${title}</title><div id="app"></div><script type="module" src="${script}"></script>` };
}
