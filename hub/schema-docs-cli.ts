/**
 * `npm run schema:docs [-- --check]`: rewrites docs/event-schema.json and the
 * event table of docs/events-schema.md from the catalogue; with `--check`,
 * writes nothing and exits 1 when either is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { CommandLine } from '../protocol/cli/index.ts';
import { schemaDocs } from './schema-docs.ts';

const { values } = new CommandLine({
  name: 'npm run schema:docs',
  usage: 'usage: npm run schema:docs [-- --check]',
  details: `Rewrites docs/event-schema.json and the event table of docs/events-schema.md from the event
catalogue (the schemas GET /api/schema serves).
  --check   write nothing; exit 1 when either file is stale (as test/event-schema.test.ts does)`,
  options: { check: { type: 'boolean', default: false } },
}).parse();
const check = values.check;
let stale = 0;
for (const { path, text } of schemaDocs()) {
  let current = '';
  try {
    current = readFileSync(path, 'utf8');
  } catch {
    // Missing: written below, or stale under --check.
  }
  if (current === text) continue;
  stale++;
  if (check) console.error(`${path} is stale: run npm run schema:docs`);
  else {
    writeFileSync(path, text);
    console.log(`wrote ${path}`);
  }
}
if (check && stale > 0) process.exit(1);
if (stale === 0) console.log('schema docs are up to date');
