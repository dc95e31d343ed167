// server.proxy.trusted-networks and its per-listener override: which peers must send a PROXY header.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { assertProblem } from './helpers/config.js';

const listener = (id: string, extra = ''): string => `[server.listener."${id}"]\nbind = "127.0.0.1:0"\n${extra}`;

test('server.proxy.trusted-networks applies to every SMTP listener; a listener\'s own list replaces it, an empty one turns it off', () => {
  const config = parseConfig(
    `[server.proxy]
trusted-networks = ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]
${listener('inherits')}
${listener('own', 'proxy.trusted-networks = "::ffff:198.51.100.0/120"\n')}
${listener('off', 'proxy.trusted-networks = []\n')}
${listener('metrics', 'protocol = "http"\n')}`,
    'test.toml',
  );
  const networks = Object.fromEntries(config.listeners.map((l) => [l.id, l.proxy.trustedNetworks]));
  assert.deepEqual(networks.inherits, [
    { family: 4, bytes: [10, 0, 0, 0], prefix: 8 },
    { family: 6, bytes: [0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(12).fill(0)], prefix: 32 },
    { family: 4, bytes: [192, 0, 2, 7], prefix: 32 },
  ]);
  // The v4-mapped spelling is the IPv4 network it maps.
  assert.deepEqual(networks.own, [{ family: 4, bytes: [198, 51, 100, 0], prefix: 24 }]);
  assert.deepEqual(networks.off, []);
  assert.deepEqual(networks.metrics, [], 'an http listener never reads a header');
  assert.deepEqual(config.warnings, []);
});

test('no trusted networks anywhere: no listener reads a header', () => {
  const config = parseConfig(listener('smtp'), 'test.toml');
  assert.deepEqual(config.listeners[0]?.proxy, { trustedNetworks: [] });
});

test('a bad network is reported at its position in the list; /0 is refused; http listeners take no list', () => {
  assertProblem(
    `[server.proxy]\ntrusted-networks = ["10.0.0.0/8", "10.0.0.0/33"]\n${listener('smtp')}`,
    'server.proxy.trusted-networks.1',
    /invalid prefix length/,
    '"10.0.0.0/33"',
  );
  assertProblem(`${listener('smtp', 'proxy.trusted-networks = "0.0.0.0/0"\n')}`, 'server.listener.smtp.proxy.trusted-networks', /takes \/8 to \/32/, 'trusted-networks');
  assertProblem(`${listener('smtp', 'proxy.trusted-networks = ["haproxy.internal"]\n')}`, 'server.listener.smtp.proxy.trusted-networks.0', /invalid IP address or network/, '"haproxy.internal"');
  assertProblem(`[server.proxy]\ntrusted-networks = [10]\n${listener('smtp')}`, 'server.proxy.trusted-networks.0', /expected a string or a list of strings/, '10]');
  assertProblem(
    `${listener('metrics', 'protocol = "http"\nproxy.trusted-networks = ["10.0.0.1"]\n')}`,
    'server.listener.metrics.proxy.trusted-networks',
    /SMTP listeners only/,
    'trusted-networks',
  );
});
