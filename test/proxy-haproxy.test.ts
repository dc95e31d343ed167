// The PROXY protocol behind a real HAProxy (mode tcp): send-proxy-v2 and send-proxy backends with
// health checks, over IPv4 and IPv6, STARTTLS and implicit TLS, and a backend whose listener does not
// trust HAProxy. Clients bind their own 127.0.0.x addresses, so the address Postern must see differs
// from HAProxy's (127.0.0.1). A real Dovecot shows the address Postern hands on in x-originating-ip.
// The bad, cut-off and missing headers are sent by the test itself, from a trusted address: HAProxy
// never sends those on demand.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import type { PosternEvent } from '../src/events.js';
import { startDovecot, type RunningDovecot } from './helpers/dovecot.js';
import { imapsRemote } from './helpers/fixtures.js';
import { startHaproxy, type RunningHaproxy } from './helpers/haproxy.js';
import { basics, scratch, startPostern, type TestPostern } from './helpers/postern.js';
import { parseExposition, promtoolCheck } from './helpers/prometheus.js';
import { v2Header } from './helpers/proxy.js';
import { plain, secured, securedImplicit, SmtpClient, type Ports } from './helpers/smtp.js';
import { eventually, within } from './helpers/wait.js';

const USERS = { carol: 'carol-imap-secret', dave: 'dave-imap-secret' };

/** HAProxy connects from 127.0.0.1; the clients come from these. */
const CLIENT = { v2: '127.0.0.10', v1: '127.0.0.11', implicit: '127.0.0.12', untrusted: '127.0.0.13', direct: '127.0.0.20' };

const LISTENERS = `
[server.proxy]
trusted-networks = ["127.0.0.1"]
[server.listener."v2"]
bind = "127.0.0.1:0"
[server.listener."v1"]
bind = "127.0.0.1:0"
# The same address in its v4-mapped spelling.
proxy.trusted-networks = ["::ffff:127.0.0.1/128"]
[server.listener."implicit"]
bind = "127.0.0.1:0"
tls.implicit = true
[server.listener."untrusted"]
bind = "127.0.0.1:0"
proxy.trusted-networks = []
[server.listener."metrics"]
bind = "127.0.0.1:0"
protocol = "http"
`;

// Each client address gets mechanisms of its own, so an EHLO shows which address the rules saw.
// HAProxy's own address (and any other) gets none.
const config = (imapsPort: number): string => `
[session.auth]
mechanisms = [ { if = "remote-ip", eq = "${CLIENT.v2}", then = ["plain", "login"] },
               { if = "remote-ip", eq = "${CLIENT.v1}", then = ["plain"] },
               { if = "remote-ip", eq = "${CLIENT.implicit}", then = ["login"] },
               { if = "remote-ip", eq = "::1", then = ["oauthbearer"] },
               { else = [] } ]
lookup = "remote/imap"
[session.auth.errors]
wait = "1ms"
${imapsRemote(imapsPort)}`;

let dovecot: RunningDovecot;
let postern: TestPostern;
let haproxy: RunningHaproxy;
/** HAProxy's frontends, named like the listeners they forward to. */
let via: Ports;

before(async () => {
  dovecot = await startDovecot({ users: USERS });
  const { dir, cert } = await scratch();
  postern = await startPostern(basics(dir, cert, { listeners: LISTENERS }) + config(dovecot.imapsPort));
  haproxy = await startHaproxy({
    v2: { port: postern.port('v2'), proxy: 'v2', check: 'smtp', ipv6: true },
    v1: { port: postern.port('v1'), proxy: 'v1', check: 'smtp' },
    implicit: { port: postern.port('implicit'), proxy: 'v2', check: 'smtps' },
    untrusted: { port: postern.port('untrusted'), proxy: 'v1' },
  });
  via = { port: (frontend) => haproxy.port(frontend) };
  // A server HAProxy has not checked yet is not known to work: wait for each check to pass once.
  const passed = (checks: Record<string, string>): boolean => ['v2', 'v1', 'implicit'].every((b) => checks[b] === 'L7OK');
  let last: Record<string, string> = {};
  await eventually(async () => passed((last = await haproxy.checks())), () => `HAProxy's checks to pass: ${JSON.stringify(last)}\n${haproxy.log()}`, {
    timeout: 30_000,
    every: 100,
  });
});

after(async () => {
  await haproxy?.stop();
  await postern?.close();
  await dovecot?.stop();
});

type Of<T extends PosternEvent['type']> = Extract<PosternEvent, { type: T }>;
const seen = <T extends PosternEvent['type']>(type: T): Of<T>[] => postern.seen.filter((e): e is Of<T> => e.type === type);
const logged = (event: string): Record<string, unknown>[] =>
  postern.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.event === event);

test('through HAProxy (send-proxy-v2 and send-proxy, IPv4 and IPv6, STARTTLS and implicit TLS): remote-ip rules, events and log lines see the client', async () => {
  const sessions = [
    { listener: 'v2', client: await secured(via, 'v2', { localAddress: CLIENT.v2 }), address: CLIENT.v2, mechanisms: ['PLAIN', 'LOGIN'] },
    { listener: 'v1', client: await secured(via, 'v1', { localAddress: CLIENT.v1 }), address: CLIENT.v1, mechanisms: ['PLAIN'] },
    { listener: 'v2', client: await secured(via, 'v2', { host: '::1' }), address: '::1', mechanisms: ['OAUTHBEARER'] },
    {
      listener: 'implicit',
      client: await securedImplicit(via, 'implicit', { localAddress: CLIENT.implicit }),
      address: CLIENT.implicit,
      mechanisms: ['LOGIN'],
    },
  ];
  for (const { listener, client, address, mechanisms } of sessions) {
    assert.deepEqual(SmtpClient.mechanisms(await client.ehlo()), mechanisms, `${address} on ${listener}`);
    assert.equal((await client.send('QUIT')).code, 221);
    client.close();
    assert.ok(
      seen('session.connect').some((e) => e.listener === listener && e.remoteIp === address),
      `a session of ${address} on ${listener}`,
    );
    assert.ok(
      logged('session.connect').some((l) => l.listener === listener && l.remoteIp === address),
      `a session.connect log line with ${address}`,
    );
    assert.ok(
      seen('proxy.header').some((e) => e.listener === listener && e.result === 'proxied' && e.remoteIp === address && e.peerIp === '127.0.0.1'),
      `a proxy.header event naming ${address} from HAProxy`,
    );
  }
  const versions = new Set(seen('proxy.header').filter((e) => e.result === 'proxied' && e.remoteIp.startsWith('127.0.0.1')).map((e) => e.version));
  assert.deepEqual([...versions].sort(), [1, 2]);
});

test('Dovecot logs the client\'s address, handed on in x-originating-ip, through either header version', async () => {
  for (const [listener, user, address] of [
    ['v2', 'carol', CLIENT.v2],
    ['v1', 'dave', CLIENT.v1],
  ] as const) {
    const client = await secured(via, listener, { localAddress: address });
    assert.equal((await client.send(`AUTH PLAIN ${plain(user, USERS[user])}`)).code, 235);
    client.close();
  }
  const addresses = await dovecot.loginAddresses();
  assert.ok(addresses.includes(CLIENT.v2) && addresses.includes(CLIENT.v1), `Dovecot saw ${addresses.join(', ')}`);
  assert.ok(!addresses.includes('127.0.0.1'), 'no login in HAProxy\'s name');
});

test('HAProxy\'s health checks (v2 LOCAL, v1 with the check\'s own addresses, SMTP over TLS) pass and keep HAProxy\'s address', async () => {
  // Each check is a whole SMTP exchange (greeting, HELO, 250) after the header; HAProxy says L7OK.
  assert.deepEqual(await haproxy.checks(), { v2: 'L7OK', v1: 'L7OK', implicit: 'L7OK' });
  const headers = seen('proxy.header');
  assert.ok(headers.some((e) => e.listener === 'v2' && e.result === 'local' && e.why === 'local' && e.remoteIp === '127.0.0.1'));
  assert.ok(headers.some((e) => e.listener === 'implicit' && e.result === 'local' && e.why === 'local'));
  assert.ok(headers.some((e) => e.listener === 'v1' && e.result === 'proxied' && e.version === 1 && e.remoteIp === '127.0.0.1'));
  assert.ok(seen('session.connect').some((e) => e.listener === 'implicit' && e.remoteIp === '127.0.0.1' && e.secure));
  assert.deepEqual(
    seen('proxy.refused').filter((e) => e.peerIp === '127.0.0.1' && e.reason !== 'malformed'),
    [],
    'no check was cut off',
  );
});

test('behind HAProxy on a listener that does not trust it, the header is never parsed: the session is HAProxy\'s, the line an SMTP command', async () => {
  const client = await SmtpClient.connect(haproxy.port('untrusted'), { localAddress: CLIENT.untrusted });
  // HAProxy's line reaches the session before or after the greeting, as the race goes: smtp-server
  // refuses a command sent before it (421 and close), and answers one after it as unknown.
  if (client.greeting.code === 421) {
    assert.match(client.greeting.last, /^421 .*You talk too soon$/);
    await within(client.closedPromise, 'the close after 421');
  } else {
    assert.equal(client.greeting.code, 220);
    assert.equal((await client.read()).last, '500 5.5.2 Error: command not recognized');
    assert.deepEqual(SmtpClient.mechanisms(await client.ehlo()), [], 'the rules saw HAProxy\'s address');
    client.close();
  }
  await eventually(() => seen('session.connect').some((e) => e.listener === 'untrusted'), 'the session on "untrusted"');
  assert.deepEqual(
    seen('session.connect').filter((e) => e.listener === 'untrusted').map((e) => e.remoteIp),
    ['127.0.0.1'],
  );
  assert.equal(seen('proxy.header').filter((e) => e.listener === 'untrusted').length, 0);
});

test('a PROXY line from a client outside the trusted networks is an unknown command (500 5.5.2); its own address stays', async () => {
  const client = await SmtpClient.connect(postern.port('v2'), { localAddress: CLIENT.direct });
  assert.equal(client.greeting.code, 220);
  assert.equal((await client.send(`PROXY TCP4 ${CLIENT.v2} 127.0.0.1 40000 587`)).last, '500 5.5.2 Error: command not recognized');
  assert.deepEqual(SmtpClient.mechanisms(await client.ehlo()), [], `not ${CLIENT.v2}'s mechanisms`);
  client.close();
  assert.deepEqual(
    seen('session.connect').filter((e) => e.remoteIp === CLIENT.direct).map((e) => e.listener),
    ['v2'],
  );
});

/** Sends `bytes` from a trusted address straight to `listener` (ending its side when `end`); what came back, and when it closed. */
async function playBalancer(listener: string, bytes: Buffer | string, end: boolean): Promise<{ received: string; ms: number }> {
  const socket = connect({ port: postern.port(listener), host: '127.0.0.1' });
  let received = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (received += chunk));
  socket.on('error', () => undefined);
  await new Promise((resolve) => socket.once('connect', resolve));
  const start = Date.now();
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  if (end) socket.end(bytes);
  else socket.write(bytes);
  await within(closed, `the server closing the connection after ${JSON.stringify(bytes.toString('latin1').slice(0, 20))}`);
  return { received, ms: Date.now() - start };
}

test('garbage, a bad v2 version and cut-off v2 headers from a trusted peer are closed without a reply, and counted, logged and scraped', async () => {
  const before = seen('proxy.refused').length;
  const header = v2Header({ source: `${CLIENT.v2}:40000`, destination: '127.0.0.1:587' });
  const cases: [string, Buffer | string, boolean, 'malformed' | 'truncated'][] = [
    ['SMTP instead of a header', 'EHLO client.example\r\n', false, 'malformed'],
    ['random bytes', Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x20, 0x77, 0xff, 0x00]), false, 'malformed'],
    ['v2 version 1', Buffer.from(header.map((b, i) => (i === 12 ? 0x11 : b))), false, 'malformed'],
    ['a v1 line with a host name', 'PROXY TCP4 mx.example 127.0.0.1 1 2\r\n', false, 'malformed'],
    ['half a v2 header, then FIN', header.subarray(0, 20), true, 'truncated'],
    ['the fixed part of a v2 header only, then FIN', header.subarray(0, 16), true, 'truncated'],
  ];
  for (const [what, bytes, end] of cases) {
    const { received } = await playBalancer('v2', bytes, end);
    assert.equal(received, '', `${what}: no reply at all`);
  }
  await eventually(() => seen('proxy.refused').length - before === cases.length, 'a proxy.refused event per connection');
  const refused = seen('proxy.refused').slice(before);
  assert.deepEqual(
    refused.map((e) => [e.listener, e.peerIp, e.reason]),
    cases.map(([, , , reason]) => ['v2', '127.0.0.1', reason]),
  );
  assert.deepEqual(refused.flatMap((e) => (e.reason === 'truncated' ? [e.received] : [])), [20, 16]);
  const lines = logged('proxy.refused').slice(-cases.length);
  assert.deepEqual(lines.map((l) => [l.level, l.reason]), cases.map(([, , , reason]) => [40, reason]), 'one warning each');

  const response = await fetch(`http://127.0.0.1:${postern.port('metrics')}/metrics`);
  const text = await response.text();
  assert.deepEqual(await promtoolCheck(text), { code: 0, stderr: '' });
  const count = (listener: string, result: string): number =>
    parseExposition(text).find((s) => s.name === 'postern_proxy_headers_total' && s.labels.listener === listener && s.labels.result === result)?.value ?? -1;
  assert.equal(count('v2', 'malformed'), 4);
  assert.equal(count('v2', 'truncated'), 2);
  assert.ok(count('v2', 'proxied') >= 3, 'the clients of the tests before');
  assert.ok(count('v2', 'local') >= 1, 'HAProxy\'s checks');
  assert.equal(count('untrusted', 'proxied'), 0);
});

test('a trusted peer that sends no header is closed after 5 s, without a greeting', async () => {
  // The time is what is tested: the header is due within 5 s of the accept.
  const { received, ms } = await playBalancer('v1', Buffer.alloc(0), false);
  assert.equal(received, '');
  assert.ok(ms >= 4_900, `closed after ${ms} ms`);
  const last = seen('proxy.refused').at(-1);
  assert.deepEqual(last, { type: 'proxy.refused', listener: 'v1', peerIp: '127.0.0.1', reason: 'timeout', received: 0 });
});

test('the README\'s "Running several nodes" snippets are valid: haproxy -c accepts its HAProxy config, Postern loads its own', async () => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Running several nodes'));
  const block = (lang: string): string => {
    const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(section);
    assert.ok(m, `a ${lang} block`);
    return m[1] ?? '';
  };
  const file = join(await mkdtemp(join(tmpdir(), 'postern-readme-')), 'haproxy.cfg');
  await writeFile(file, block('haproxy'));
  const { stdout } = await promisify(execFile)('haproxy', ['-c', '-f', file]);
  assert.match(stdout, /Configuration file is valid/);
  const config = parseConfig(`${block('toml')}[server.listener."submission"]\nbind = "127.0.0.1:0"\n`, 'README.toml');
  assert.equal(config.listeners[0]?.proxy.trustedNetworks.length, 2);
  assert.deepEqual(config.warnings, []);
});
