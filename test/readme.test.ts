/**
 * The README stays true and short: its events table is the catalogue's, every
 * `npm run <script>` it shows exists, and it fits on a newcomer's screen or two.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { EVENT_SPECS } from '../protocol/catalogue.ts';

const ROOT = new URL('..', import.meta.url);
const readme = readFileSync(new URL('README.md', ROOT), 'utf8');

/** The table as the README should have it, from protocol/catalogue.ts. */
function eventsTable(): string {
  const owner = { site: '<site>.', user: '<user>.', global: '' } as const;
  const rows = EVENT_SPECS.map((s) => `| \`${s.name}\` | ${s.stream} | \`<ns>.${s.stream}.${owner[s.stream as keyof typeof owner]}${s.tail}\` | ${s.priority} |`);
  return ['| Event | Log | Subject | Priority |', '|---|---|---|---|', ...rows].join('\n');
}

describe('README', () => {
  it('has the events table of protocol/catalogue.ts', () => {
    const found = /<!-- events-table: generated from protocol\/catalogue\.ts -->\n([\s\S]*?)\n<!-- \/events-table -->/.exec(readme);
    assert.ok(found !== null, 'the README marks its events table with <!-- events-table: … --> and <!-- /events-table -->');
    assert.equal(found[1], eventsTable(), `the catalogue changed: replace the README's events table with\n${eventsTable()}`);
  });

  it('shows only npm scripts that package.json has', () => {
    const scripts = Object.keys(JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')).scripts);
    const shown = [...readme.matchAll(/npm run (?:--silent )?([\w:-]+)/g)].map((m) => m[1]!);
    assert.ok(shown.length > 0);
    for (const name of shown) assert.ok(scripts.includes(name), `npm run ${name} is not a script of package.json`);
  });

  it('has every variable hub/config.ts reads documented in docs/configuration.md', () => {
    const config = readFileSync(new URL('hub/config.ts', ROOT), 'utf8');
    const documented = readFileSync(new URL('docs/configuration.md', ROOT), 'utf8');
    const names = [...config.matchAll(/'(HUB_[A-Z_]+|NATS_URL|DATABASE_URL)'/g)].map((m) => m[1]!);
    assert.ok(names.length > 30);
    for (const name of names) assert.ok(documented.includes(`\`${name}\``), `${name} is read by hub/config.ts but not documented in docs/configuration.md`);
  });

  it('is at most 150 lines (the rest lives in docs/)', () => {
    assert.ok(readme.split('\n').length <= 151, `${readme.split('\n').length} lines`);
  });
});
