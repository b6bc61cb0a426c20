/**
 * Serves the live dashboard page from the hub: its HTML, its script and its
 * styles, bundled once at start with esbuild for browsers (HubClient, uPlot and
 * the page, nothing from node:*; the page's CSS with uPlot's). A
 * Content-Security-Policy keeps any script but the bundle out, and any style but
 * the stylesheet (the charts set sizes through the CSSOM, which it allows).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { TemplatedApp } from 'uWebSockets.js';

export interface DashboardPage {
  readonly html: string;
  readonly script: string;
  readonly styles: string;
}

const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; img-src 'self'; object-src 'none'; base-uri 'none'";

export async function buildDashboardPage(): Promise<DashboardPage> {
  const page = (file: string) => fileURLToPath(new URL(`./page/${file}`, import.meta.url));
  const result = await build({
    entryPoints: { dashboard: page('dashboard.ts'), styles: page('dashboard.css') },
    outdir: 'dashboard-bundle', // never written (write: false): names the outputs
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    logLevel: 'silent',
  });
  const output = (name: string) => result.outputFiles.find((f) => f.path.endsWith(name))!.text;
  return { html: readFileSync(page('index.html'), 'utf8'), script: output('dashboard.js'), styles: output('styles.css') };
}

/**
 * Mounts `/`, `/dashboard.js` and `/dashboard.css`; with `token`, also `/demo/token`, which hands
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
  app.get('/dashboard.css', (res) => {
    res.cork(() => res.writeHeader('content-type', 'text/css; charset=utf-8').writeHeader('cache-control', 'no-store').end(page.styles));
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
