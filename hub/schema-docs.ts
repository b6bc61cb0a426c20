/**
 * What docs/ says about the event schemas, generated so it cannot drift:
 * docs/event-schema.json whole, and the table of events in docs/events-schema.md
 * between its markers (the prose around it is written by hand). `npm run
 * schema:docs` writes both; test/event-schema.test.ts fails when either is stale.
 */
import { readFileSync } from 'node:fs';
import { eventSchemaDocument, eventSchemas, LOG_RECORD } from '../protocol/event-schema.ts';

export const SCHEMA_JSON_PATH = 'docs/event-schema.json';
export const SCHEMA_MD_PATH = 'docs/events-schema.md';

const START = '<!-- event-table:start (npm run schema:docs) -->';
const END = '<!-- event-table:end -->';

/** The files as they should be, given the markdown as it is (its prose is kept). */
export function schemaDocs(root = '.'): Array<{ path: string; text: string }> {
  const md = readFileSync(`${root}/${SCHEMA_MD_PATH}`, 'utf8');
  const start = md.indexOf(START);
  const end = md.indexOf(END);
  if (start < 0 || end < start) throw new Error(`${SCHEMA_MD_PATH} has lost its markers ${START} … ${END}`);
  return [
    { path: SCHEMA_JSON_PATH, text: eventSchemaDocument() },
    { path: SCHEMA_MD_PATH, text: `${md.slice(0, start + START.length)}\n${eventTable()}${md.slice(end)}` },
  ];
}

function eventTable(): string {
  const rows = Object.entries(eventSchemas())
    .filter(([name]) => name !== LOG_RECORD)
    .map(([name, s]) => {
      const streams = (s['x-streams'] as Array<{ stream: string; subject: string }>).map((x) => `${x.stream}: \`${x.subject}\``).join('<br>');
      const domain = ((s['x-domain-events'] as string[] | undefined) ?? []).map((d) => `\`${d}\``).join(', ');
      return `| \`${name}\` | ${s['x-priority'] as string} | ${streams} | ${domain || '—'} | ${s['x-derived'] === undefined ? 'no' : 'yes'} |`;
    });
  return ['| Event | Priority | Log: subject | Domain events it carries | Also appended by the hub |', '|---|---|---|---|---|', ...rows, ''].join('\n');
}
