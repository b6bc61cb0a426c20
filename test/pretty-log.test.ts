/** The terminal's log lines: pino's JSON made readable, anything else passed through. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { prettyLine } from '../hub/pretty-log.ts';

describe('prettyLine', () => {
  const entry = { level: 30, time: Date.UTC(2026, 0, 2, 3, 4, 5), pid: 7, name: 'hub', msg: 'hub ready: WebSocket at /ws', port: 3000, url: 'nats://127.0.0.1:4223', note: 'two words' };

  it('shows time, level, message and the other fields as key=value, without pid or name', () => {
    const line = prettyLine(JSON.stringify(entry), false);
    assert.match(line, /^\d\d:\d\d:\d\d INFO  hub ready: WebSocket at \/ws {2}port=3000 url=nats:\/\/127\.0\.0\.1:4223 note="two words"\n$/);
    assert.doesNotMatch(line, /pid|name=/);
  });

  it('prefixes a component and colours the level only when asked', () => {
    const line = prettyLine(JSON.stringify({ ...entry, level: 40, component: 'projections', msg: 'retrying' }), true);
    assert.match(line, /\x1b\[33mWARN \x1b\[0m \[projections\] retrying/);
    assert.doesNotMatch(prettyLine(JSON.stringify(entry), false), /\x1b/);
  });

  it('passes a line that is not JSON through unchanged', () => {
    assert.equal(prettyLine('not json\n', false), 'not json\n');
  });
});
