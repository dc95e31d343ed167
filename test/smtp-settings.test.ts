// Connect-time settings: evaluated on a worker, once per distinct combination of the variables the
// rules actually test.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { EventBus } from '../src/events.js';
import { WorkerPool } from '../src/pool/pool.js';
import { SettingsResolver } from '../src/smtp/settings.js';
import { sessionVars } from './helpers/config.js';
import { LISTENERS } from './helpers/fixtures.js';

function resolverFor(authToml: string) {
  const config = parseConfig(`${LISTENERS}\n${authToml}`, 'test.toml');
  const events = new EventBus();
  let evaluations = 0;
  events.on((e) => {
    if (e.type === 'pool.task' && e.kind === 'rules' && e.threadId > 0) evaluations += 1;
  });
  const pool = new WorkerPool({ threads: 1, maxQueue: 16, rules: config.auth, events });
  after(() => pool.close());
  return { resolver: new SettingsResolver(pool, config.auth), evaluations: () => evaluations };
}

test('rules that test only the listener are evaluated once per listener', async () => {
  const { resolver, evaluations } = resolverFor(`[session.auth]
require = [ { if = "listener", ne = "smtp", then = true }, { else = false } ]`);
  const a = await resolver.resolve(sessionVars({ listener: 'submission', 'remote-ip': '192.0.2.1' }));
  const b = await resolver.resolve(sessionVars({ listener: 'submission', 'remote-ip': '192.0.2.2' }));
  const c = await resolver.resolve(sessionVars({ listener: 'smtp', 'remote-ip': '192.0.2.1' }));
  assert.equal(a.require, true);
  assert.equal(b.require, true);
  assert.equal(c.require, false);
  assert.equal(evaluations(), 2);
});

test('rules that test remote-ip are evaluated per remote address', async () => {
  const { resolver, evaluations } = resolverFor(`[session.auth]
require = [ { if = "remote-ip", eq = "192.0.2.0/24", then = false }, { else = true } ]`);
  assert.equal((await resolver.resolve(sessionVars({ 'remote-ip': '192.0.2.1' }))).require, false);
  assert.equal((await resolver.resolve(sessionVars({ 'remote-ip': '198.51.100.7' }))).require, true);
  assert.equal((await resolver.resolve(sessionVars({ 'remote-ip': '192.0.2.1' }))).require, false);
  assert.equal(evaluations(), 2);
});
