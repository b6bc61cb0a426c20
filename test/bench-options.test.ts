/** The bench's command line: defaults per scenario, and a clear error for every bad option. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OptionError, parseCommand } from '../bench/options.ts';

function run(...argv: string[]) {
  const c = parseCommand(argv, {});
  assert.equal(c.command, 'run');
  return (c as Extract<typeof c, { command: 'run' }>).options;
}

function rejects(argv: string[], pattern: RegExp): void {
  assert.throws(() => parseCommand(argv, {}), (e: unknown) => e instanceof OptionError && pattern.test(e.message));
}

describe('bench options', () => {
  it('runs fanout against the hub with the documented defaults', () => {
    const o = run('fanout');
    assert.deepEqual(o.targets, ['hub']);
    assert.equal(o.clients, 1000);
    assert.equal(o.sites, 100);
    assert.equal(o.rate, 1000);
    assert.equal(o.repeat, 1);
    assert.equal(o.resume, true);
    assert.equal(o.natsUrl, 'nats://127.0.0.1:4222');
  });

  it('gives each scenario its own defaults', () => {
    assert.equal(run('connections').clients, 10_000);
    assert.equal(run('slow-consumers').alarmEvery, 10);
    assert.equal(run('burst').burstFactor, 50);
  });

  it('runs every target with --compare, and medians over --repeat', () => {
    const o = run('fanout', '--compare', '--repeat', '3', '--ceiling');
    assert.deepEqual(o.targets, ['hub', 'hub-socketio', 'socketio', 'uws-bare']);
    assert.equal(o.compare, true);
    assert.equal(o.repeat, 3);
    assert.equal(o.ceiling, true);
  });

  it('runs the targets --targets names, in its order, and compares them when there are several', () => {
    const o = run('fanout', '--targets', 'hub-socketio,hub, socketio');
    assert.deepEqual(o.targets, ['hub-socketio', 'hub', 'socketio']);
    assert.equal(o.compare, true);
    assert.deepEqual(run('connections', '--compare', '--targets', 'socketio,hub-socketio').targets, ['socketio', 'hub-socketio']);
    const one = run('fanout', '--targets', 'hub-socketio');
    assert.deepEqual(one.targets, ['hub-socketio']);
    assert.equal(one.compare, false);
  });

  it('runs the hub\'s Socket.IO face as a target of its own', () => {
    assert.deepEqual(run('fanout', '--target', 'hub-socketio').targets, ['hub-socketio']);
  });

  it('drives Socket.IO targets with socket.io-client unless --socketio-client lean', () => {
    assert.equal(run('fanout').socketIoClient, 'library');
    assert.equal(run('fanout', '--socketio-client', 'lean').socketIoClient, 'lean');
    rejects(['fanout', '--socketio-client', 'fast'], /--socketio-client "fast" is not one of library, lean/);
  });

  it('takes NATS_URL from the environment, and --nats-url over it', () => {
    const c = parseCommand(['fanout'], { NATS_URL: 'nats://localhost:4333' });
    assert.equal(c.command === 'run' && c.options.natsUrl, 'nats://localhost:4333');
    assert.equal(run('fanout', '--nats-url', 'nats://127.0.0.1:5000').natsUrl, 'nats://127.0.0.1:5000');
  });

  it('asks for help with no arguments or --help', () => {
    assert.equal(parseCommand([], {}).command, 'help');
    assert.equal(parseCommand(['fanout', '--help'], {}).command, 'help');
  });

  it('parses the chart command', () => {
    const c = parseCommand(['chart', 'a.json', 'b.json', '--out', 'x.svg'], {});
    assert.deepEqual(c, { command: 'chart', inputs: ['a.json', 'b.json'], out: 'x.svg', maxP99Ms: 50 });
  });

  it('names an unknown scenario, target or option', () => {
    rejects(['fanin'], /unknown scenario "fanin"/);
    rejects(['fanout', '--target', 'nginx'], /--target "nginx" is not one of hub, hub-socketio, socketio, uws-bare/);
    rejects(['fanout', '--targets', 'hub,nginx'], /--targets "nginx" is not one of hub, hub-socketio, socketio, uws-bare/);
    rejects(['fanout', '--targets', 'hub,'], /--targets "" is not one of/);
    rejects(['fanout', '--clientz', '5'], /--clientz/);
    rejects(['chart'], /chart needs at least one results JSON file/);
  });

  it('names the option and its range when a number is bad', () => {
    rejects(['fanout', '--clients', 'many'], /--clients "many" must be an integer from 1 to 25000/);
    rejects(['fanout', '--clients', '2.5'], /--clients "2.5" must be an integer/);
    rejects(['fanout', '--rate', '0'], /--rate "0" must be an integer from 1/);
    rejects(['fanout', '--clients', '100000'], /--clients "100000" must be an integer from 1 to 25000/);
    rejects(['reconnect-storm', '--drop-fraction', '1.5'], /--drop-fraction "1.5" must be a number from 0.01 to 1/);
    rejects(['fanout', '--workers', ''], /--workers "" must be an integer/);
  });

  it('refuses options that do not apply to the scenario', () => {
    rejects(['fanout', '--burst-factor', '10'], /--burst-factor applies to burst, not fanout/);
    rejects(['burst', '--ceiling'], /--ceiling applies to fanout, not burst/);
    rejects(['connections', '--rate', '10'], /--rate applies to fanout, burst, reconnect-storm, slow-consumers, not connections/);
  });

  it('refuses contradictions', () => {
    rejects(['fanout', '--compare', '--target', 'hub'], /--target runs one target; drop it to use --compare/);
    rejects(['fanout', '--targets', 'hub,socketio', '--target', 'hub'], /--target runs one target; drop it to use --targets/);
    rejects(['fanout', '--targets', 'hub,socketio,hub'], /--targets names hub twice/);
    rejects(['fanout', '--clients', '10', '--sites', '20'], /--sites 20 is more than --clients 10/);
    rejects(['slow-consumers', '--duration', '2', '--stall-seconds', '3'], /--stall-seconds 3 is longer than --duration 2/);
    rejects(['fanout', 'extra'], /unexpected argument "extra"/);
  });

  it('only talks to this machine', () => {
    rejects(['fanout', '--nats-url', 'nats://10.0.0.5:4222'], /not a loopback address/);
    rejects(['fanout', '--nats-url', 'not a url'], /is not a URL/);
  });
});
