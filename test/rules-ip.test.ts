// remote-ip / local-ip with eq / ne: addresses and CIDR networks, both families, v4-mapped IPv6.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inNetwork, parseIp, parseNetwork } from '../src/config/ip.js';
import { parseConfig } from '../src/config/load.js';
import { evaluate } from '../src/config/rules.js';
import { assertProblem, sessionVars } from './helpers/config.js';
import { LISTENERS } from './helpers/fixtures.js';

/** Whether `remote-ip <op> <network>` matches `address`, through the whole TOML → rule → evaluate path. */
function remoteIp(op: 'eq' | 'ne', network: string, address: string): boolean {
  const toml = `${LISTENERS}\n[session.auth]\nrequire = [ { if = "remote-ip", ${op} = "${network}", then = true }, { else = false } ]\n`;
  return evaluate(parseConfig(toml, 'test.toml').auth.require, sessionVars({ 'remote-ip': address }));
}

test('a bare address matches only itself (v4 and v6)', () => {
  assert.equal(remoteIp('eq', '192.0.2.1', '192.0.2.1'), true);
  assert.equal(remoteIp('eq', '192.0.2.1', '192.0.2.2'), false);
  assert.equal(remoteIp('eq', '2001:db8::1', '2001:0db8:0:0::1'), true, 'any IPv6 spelling of the same address');
  assert.equal(remoteIp('eq', '2001:db8::1', '2001:db8::2'), false);
  assert.equal(remoteIp('eq', '::1', '::1'), true);
  assert.equal(remoteIp('eq', '::1', '127.0.0.1'), false);
});

test('CIDR networks: /8, /24, /32 for IPv4', () => {
  assert.equal(remoteIp('eq', '10.0.0.0/8', '10.255.1.2'), true);
  assert.equal(remoteIp('eq', '10.0.0.0/8', '11.0.0.1'), false);
  assert.equal(remoteIp('eq', '192.0.2.0/24', '192.0.2.255'), true);
  assert.equal(remoteIp('eq', '192.0.2.0/24', '192.0.3.0'), false);
  assert.equal(remoteIp('eq', '192.0.2.7/32', '192.0.2.7'), true);
  assert.equal(remoteIp('eq', '192.0.2.7/32', '192.0.2.6'), false);
  assert.equal(remoteIp('eq', '192.0.2.130/25', '192.0.2.200'), true, 'host bits in the network are ignored');
  assert.equal(remoteIp('eq', '192.0.2.130/25', '192.0.2.100'), false);
});

test('CIDR networks: /32, /64, /127, /128 for IPv6', () => {
  assert.equal(remoteIp('eq', '2001:db8::/32', '2001:db8:ffff::1'), true);
  assert.equal(remoteIp('eq', '2001:db8::/32', '2001:db9::1'), false);
  assert.equal(remoteIp('eq', 'fe80::/64', 'fe80::1%eth0'), true, 'a zone id on the address is ignored');
  assert.equal(remoteIp('eq', '2001:db8::/127', '2001:db8::1'), true);
  assert.equal(remoteIp('eq', '2001:db8::/127', '2001:db8::2'), false);
  assert.equal(remoteIp('eq', '2001:db8::5/128', '2001:db8::5'), true);
  assert.equal(remoteIp('eq', '2001:db8::5/128', '2001:db8::4'), false);
  assert.equal(remoteIp('eq', '2001:db8::/32', '192.0.2.1'), false, 'IPv4 is not in an IPv6 network');
  assert.equal(remoteIp('eq', '10.0.0.0/8', '2001:db8::1'), false, 'IPv6 is not in an IPv4 network');
});

test('v4-mapped IPv6 matches an IPv4 network, and IPv4 matches a v4-mapped network', () => {
  assert.equal(remoteIp('eq', '10.0.0.0/8', '::ffff:10.1.2.3'), true);
  assert.equal(remoteIp('eq', '10.0.0.0/8', '::ffff:11.1.2.3'), false);
  assert.equal(remoteIp('eq', '127.0.0.1', '::ffff:127.0.0.1'), true);
  assert.equal(remoteIp('eq', '::ffff:10.0.0.0/104', '10.9.8.7'), true);
  assert.equal(remoteIp('eq', '::ffff:10.0.0.0/104', '11.9.8.7'), false);
  assert.equal(remoteIp('eq', '::ffff:127.0.0.1', '127.0.0.1'), true);
  assert.equal(remoteIp('eq', '::ffff:0:0/96', '203.0.113.9'), true, 'the whole v4-mapped range is all of IPv4');
  assert.equal(remoteIp('eq', '::ffff:0:0/96', '2001:db8::1'), false);
  assert.equal(remoteIp('eq', '::/8', '10.0.0.1'), true, 'an IPv6 network wider than ::ffff:0:0/96 still sees IPv4 as v4-mapped');
});

test('ne is the negation, including for addresses that do not parse', () => {
  assert.equal(remoteIp('ne', '10.0.0.0/8', '10.1.1.1'), false);
  assert.equal(remoteIp('ne', '10.0.0.0/8', '192.0.2.1'), true);
  assert.equal(remoteIp('eq', '10.0.0.0/8', ''), false, 'no address (e.g. --check) matches no network');
  assert.equal(remoteIp('ne', '10.0.0.0/8', ''), true);
});

test('prefix lengths outside /8../32 (IPv4) and /8../128 (IPv6) are config errors, as in Stalwart', () => {
  for (const bad of ['0.0.0.0/0', '10.0.0.0/7', '10.0.0.0/33', '::/0', '2001:db8::/129', '10.0.0.0/', '10.0.0.0/x']) {
    const toml = `[session.auth]\nrequire = [ { if = "remote-ip", eq = "${bad}", then = true }, { else = false } ]\n${LISTENERS}`;
    assertProblem(toml, 'session.auth.require.0.eq', /prefix length/, 'eq = ');
  }
  for (const good of ['10.0.0.0/8', '10.0.0.0/32', '2001:db8::/8', '2001:db8::1/128']) assert.doesNotThrow(() => parseNetwork(good), good);
});

test('malformed addresses are config errors pointing at the value', () => {
  for (const bad of ['256.0.0.1', '10.0.0', '01.2.3.4', '1::2::3', '2001:db8:::1', '1:2:3:4:5:6:7:8:9', 'localhost', '::ffff:1.2.3']) {
    const toml = `[session.auth]\nrequire = [ { if = "local-ip", ne = "${bad}", then = true }, { else = false } ]\n${LISTENERS}`;
    assertProblem(toml, 'session.auth.require.0.ne', /invalid IP address/, 'ne = ');
  }
});

test('parseIp folds v4-mapped IPv6 and expands :: compression', () => {
  assert.deepEqual(parseIp('::ffff:192.0.2.1'), [192, 0, 2, 1]);
  assert.deepEqual(parseIp('::FFFF:c000:0201'), [192, 0, 2, 1]);
  assert.deepEqual(parseIp('::1'), [...new Array(15).fill(0), 1]);
  assert.deepEqual(parseIp('1::'), [0, 1, ...new Array(14).fill(0)]);
  assert.deepEqual(parseIp('::'), new Array(16).fill(0));
  assert.equal(parseIp('1:2:3:4:5:6:7::8'), null, ':: must stand for at least one group');
  assert.equal(inNetwork(parseNetwork('192.0.2.0/24'), [192, 0, 2, 9]), true);
});
