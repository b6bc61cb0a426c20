/**
 * Serves the live dashboard page from the hub: its HTML and its script, bundled
 * once at start with esbuild for browsers (HubClient and the page, nothing from
 * node:*). A Content-Security-Policy keeps any script but the bundle out.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { TemplatedApp } from 'uWebSockets.js';

export interface DashboardPage {
  readonly html: string;
  readonly script: string;
}

const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:; img-src 'self'; object-src 'none'; base-uri 'none'";

export async function buildDashboardPage(): Promise<DashboardPage> {
  const entry = fileURLToPath(new URL('./page/dashboard.ts', import.meta.url));
  const result = await build({ entryPoints: [entry], bundle: true, format: 'esm', platform: 'browser', target: 'es2022', minify: true, write: false, logLevel: 'silent' });
  return { html: readFileSync(fileURLToPath(new URL('./page/index.html', import.meta.url)), 'utf8'), script: result.outputFiles[0]!.text };
}

/**
 * Mounts `/` and `/dashboard.js`; with `token`, also `/demo/token`, which hands
 * the page a token: for the demo only (anyone who can reach it gets one).
 */
export function mountDashboardPage(app: TemplatedApp, page: DashboardPage, token?: () => Promise<string>): void {
  app.get('/', (res) => {
    res.cork(() => res.writeHeader('content-type', 'text/html; charset=utf-8').writeHeader('content-security-policy', CSP).writeHeader('cache-control', 'no-store').end(page.html));
  });
  app.get('/favicon.ico', (res) => {
    res.cork(() => res.writeStatus('204 No Content').end());
  });
  app.get('/dashboard.js', (res) => {
    res.cork(() => res.writeHeader('content-type', 'text/javascript; charset=utf-8').writeHeader('cache-control', 'no-store').end(page.script));
  });
  if (token !== undefined) {
    app.get('/demo/token', (res) => {
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      void token().then((t) => {
        if (!aborted) res.cork(() => res.writeHeader('content-type', 'text/plain').writeHeader('cache-control', 'no-store').end(t));
      });
    });
  }
}
