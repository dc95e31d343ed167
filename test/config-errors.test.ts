// Config mistakes outside the rules: each rejected with its key and the line:column it was written at.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatProblem } from '../src/errors.js';
import { assertProblem, problemsOf } from './helpers/config.js';
import { LISTENERS } from './helpers/fixtures.js';

const TLS = `[server.tls]\nenable = true\nimplicit = false\ncertificate = "default"\n[certificate."default"]\ncert = "file://c.pem"\nprivate-key = "file://c.key"\n`;

test('a TOML syntax error is reported at smol-toml\'s position', () => {
  const [problem, ...rest] = problemsOf(`[server]\nhostname = \n`);
  assert.equal(rest.length, 0);
  assert.deepEqual([problem?.line, problem?.column], [2, 12]);
  assert.match(problem?.message ?? '', /invalid/i);
});

test('duplicate listener id', () => {
  const toml = `${LISTENERS}[server.listener."smtp"]\nbind = "127.0.0.1:2526"\n`;
  const [problem] = problemsOf(toml);
  assert.equal(problem?.key, 'server.listener.smtp');
  assert.equal(problem?.message, 'duplicate listener id "smtp"');
  assert.equal(problem?.line, 6);
});

test('missing bind points at the listener\'s table', () => {
  assertProblem(`[server.listener."smtp"]\nprotocol = "smtp"\n`, 'server.listener.smtp.bind', /missing "bind"/, '[server.listener."smtp"]');
});

test('no listeners at all', () => {
  const [problem] = problemsOf(`[server]\nhostname = "x"\n`);
  assert.equal(problem?.key, 'server.listener');
  assert.match(problem?.message ?? '', /no listeners declared/);
});

test('bad bind addresses and a protocol that is neither smtp nor http', () => {
  for (const bad of ['127.0.0.1', 'localhost:25', '::1:25', '[127.0.0.1]:25', '127.0.0.1:65536', '300.0.0.1:25']) {
    assertProblem(`[server.listener."smtp"]\nbind = ["127.0.0.1:0", "${bad}"]\n`, 'server.listener.smtp.bind.1', /invalid bind address/, `"${bad}"`);
  }
  assertProblem(`[server.listener."smtp"]\nbind = "127.0.0.1:0"\nprotocol = "lmtp"\n`, 'server.listener.smtp.protocol', /unknown protocol "lmtp"/, 'protocol');
});

test('the same address bound twice (port 0 excepted)', () => {
  const toml = `[server.listener."a"]\nbind = "127.0.0.1:2525"\n[server.listener."b"]\nbind = ["127.0.0.1:2526", "127.0.0.1:2525"]\n`;
  assertProblem(toml, 'server.listener.b.bind.1', /already bound by listener "a"/, '"127.0.0.1:2525"', 1);
});

test('unknown certificate id, on a listener and in [server.tls]', () => {
  const listener = `${TLS}[server.listener."smtp"]\nbind = "127.0.0.1:0"\ntls.certificate = "missing"\n`;
  assertProblem(listener, 'server.listener.smtp.tls.certificate', /unknown certificate "missing"/, 'certificate = "missing"');
  const server = TLS.replace('certificate = "default"', 'certificate = "nope"') + LISTENERS;
  assertProblem(server, 'server.tls.certificate', /unknown certificate "nope"/, 'certificate = "nope"');
});

test('TLS enabled with no certificate named anywhere', () => {
  const toml = `[server.listener."smtp"]\nbind = "127.0.0.1:0"\ntls.enable = true\n`;
  assertProblem(toml, 'server.listener.smtp.tls', /no certificate is named/, 'tls');
});

test('a certificate without its files, or with inline PEM', () => {
  const toml = `[certificate."c"]\ncert = "-----BEGIN CERTIFICATE-----"\n${LISTENERS}`;
  assertProblem(toml, 'certificate.c.cert', /inline PEM is not supported/, 'cert =');
  assertProblem(toml, 'certificate.c.private-key', /missing "private-key"/, '[certificate."c"]');
});

test('TLS on an http listener', () => {
  const toml = `[server.listener."metrics"]\nbind = "127.0.0.1:0"\nprotocol = "http"\ntls.enable = true\n`;
  assertProblem(toml, 'server.listener.metrics.tls.enable', /not supported on http listeners/, 'enable');
});

test('a remote: protocol required and only imap; address and port required; typed values', () => {
  const head = `${LISTENERS}[remote."imap"]\n`;
  assertProblem(`${head}address = "a"\nport = 993\n`, 'remote.imap.protocol', /missing "protocol"/, '[remote."imap"]');
  assertProblem(`${head}address = "a"\nport = 993\nprotocol = "ldap"\n`, 'remote.imap.protocol', /unsupported protocol "ldap"/, 'protocol');
  assertProblem(`${head}protocol = "imap"\nport = 993\n`, 'remote.imap.address', /missing "address"/, '[remote."imap"]');
  assertProblem(`${head}protocol = "imap"\naddress = "a"\nport = 99999\n`, 'remote.imap.port', /from 1 to 65535, got 99999/, 'port');
  assertProblem(`${head}protocol = "imap"\naddress = "a"\nport = 1\ntimeout = "0s"\n`, 'remote.imap.timeout', /invalid duration "0s"/, 'timeout');
  assertProblem(`${head}protocol = "imap"\naddress = "a"\nport = 1\nlookup = "yes"\n`, 'remote.imap.lookup', /expected true or false, got a string/, 'lookup =');
  assertProblem(`${head}protocol = "imap"\naddress = "a"\nport = 1\nconcurrency = 0\n`, 'remote.imap.concurrency', /≥ 1, got 0/, 'concurrency');
  const ttl = `${head}protocol = "imap"\naddress = "a"\nport = 1\n[remote."imap".cache]\nttl = {positive = "1d", negative = "1 hour"}\n`;
  assertProblem(ttl, 'remote.imap.cache.ttl.negative', /invalid duration "1 hour"/, 'negative');
});

test('a directory: type memory only, users need name and secret, names unique', () => {
  assertProblem(`${LISTENERS}[directory."d"]\ntype = "ldap"\n`, 'directory.d.type', /unsupported directory type "ldap"/, 'type');
  assertProblem(`${LISTENERS}[directory."d"]\n[[directory."d".users]]\nname = "a"\nsecret = "x"\n`, 'directory.d.type', /missing "type"/, '[directory."d"]');
  const users = `${LISTENERS}[directory."d"]\ntype = "memory"\n[[directory."d".users]]\nname = "a"\nsecret = "x"\n[[directory."d".users]]\nsecret = "y"\n[[directory."d".users]]\nname = "a"\nsecret = "z"\n`;
  assertProblem(users, 'directory.d.users.1.name', /missing "name"/, '[[directory."d".users]]', 1);
  assertProblem(users, 'directory.d.users.2.name', /duplicate user "a"/, 'name = "a"', 1);
});

test('server-wide values are typed', () => {
  assertProblem(`[server]\nhostname = 42\n${LISTENERS}`, 'server.hostname', /expected a string, got an integer/, 'hostname');
  assertProblem(`[server.workers]\nthreads = 0\n${LISTENERS}`, 'server.workers.threads', /≥ 1, got 0/, 'threads');
  assertProblem(`[session.data.limits]\nsize = "10M"\n${LISTENERS}`, 'session.data.limits.size', /expected an integer ≥ 1, got a string/, 'size');
  assertProblem(`[queue]\npath = false\n${LISTENERS}`, 'queue.path', /expected a string/, 'path');
});

test('problems format as FILE:LINE:COLUMN: key: message', () => {
  const [problem] = problemsOf(`[server.listener."smtp"]\nbind = "nowhere"\n`);
  assert.ok(problem);
  assert.equal(formatProblem(problem), 'test.toml:2:1: server.listener.smtp.bind: invalid bind address "nowhere" (expected "ip:port" or "[ipv6]:port")');
});
