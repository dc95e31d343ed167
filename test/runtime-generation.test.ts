// Config generations: a session keeps the generation it connected with when a new one is swapped in,
// the old one closes once its last session ends, and shutdown closes the services in order.
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo } from 'node:net';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { Lifecycle } from '../src/runtime/lifecycle.js';
import { ALICE, listeners, memoryDirectory } from './helpers/fixtures.js';
import { basics, scratch, startPostern, type TestPostern } from './helpers/postern.js';
import { b64, plain, secured, SmtpClient } from './helpers/smtp.js';
import { eventually, within } from './helpers/wait.js';

const USERS = memoryDirectory([ALICE]);
const auth = (mechanisms: string): string => `
[session.auth]
mechanisms = ${mechanisms}
lookup = "directory/local"
errors.wait = "1ms"
`;

/** A STARTTLS session and the mechanisms its EHLO offers. */
async function session(server: TestPostern): Promise<{ client: SmtpClient; mechanisms: string[] }> {
  const client = await secured(server);
  return { client, mechanisms: SmtpClient.mechanisms(await client.ehlo()) };
}

const logged = (logs: string[], event: string): Record<string, unknown>[] =>
  logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.event === event);


test('a reload that removes a mechanism: new sessions no longer offer it; a session opened before keeps the generation it connected with and completes its AUTH; the old one closes after its last session', async () => {
  const { dir, cert } = await scratch();
  const base = basics(dir, cert) + USERS;
  const file = join(dir, 'postern.toml');
  const server = await startPostern(base + auth('["plain", "login"]'), { file });
  try {
    const old = await session(server);
    assert.deepEqual(old.mechanisms, ['PLAIN', 'LOGIN']);

    await writeFile(file, base + auth('["plain"]'));
    const next = await server.running.reload();
    assert.deepEqual({ ok: next.ok, generation: next.generation }, { ok: true, generation: 2 });
    const fresh = await session(server);
    assert.deepEqual(fresh.mechanisms, ['PLAIN']);
    assert.equal((await fresh.client.send('AUTH LOGIN')).last, '504 5.5.4 Mechanism not supported');

    // The session opened before the swap still has LOGIN, and its pool still decodes and checks.
    assert.deepEqual(SmtpClient.mechanisms(await old.client.ehlo()), ['PLAIN', 'LOGIN']);
    assert.equal((await old.client.send('AUTH LOGIN')).code, 334);
    assert.equal((await old.client.send(b64('alice'))).code, 334);
    assert.equal((await old.client.send(b64('alice-secret'))).last, '235 2.7.0 Authentication succeeded.');
    assert.deepEqual(logged(server.logs, 'generation.closed'), [], 'generation 1 still serves a session');

    await old.client.send('QUIT');
    await eventually(() => logged(server.logs, 'generation.closed').length === 1, 'generation 1 to close');
    assert.equal(logged(server.logs, 'generation.closed')[0]?.generation, 1);
    // The new generation is unaffected: it authenticates.
    assert.equal((await fresh.client.send(`AUTH PLAIN ${plain('alice', 'alice-secret')}`)).code, 235);
    fresh.client.close();
  } finally {
    await server.close();
  }
});

test('shutdown: listeners stop first, open sessions still authenticate and submit in the grace period, then sockets still in a PROXY header, sessions, the control socket, metrics, backends and the spool close in that order', async () => {
  const { dir, cert } = await scratch();
  const server = await startPostern(basics(dir, cert) + USERS + auth('["plain"]'));
  const { client } = await session(server);
  const port = server.port('submission');
  const closing = server.running.close(10_000);
  await eventually(() => server.logs.some((l) => l.includes('"step":"listeners"')), 'the listeners to close');
  const refused = await new Promise<string>((resolve) => {
    const probe = connect(port, '127.0.0.1');
    probe.once('connect', () => (probe.destroy(), resolve('connected')));
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
  assert.equal(refused, 'ECONNREFUSED');

  assert.equal((await client.send(`AUTH PLAIN ${plain('alice', 'alice-secret')}`)).code, 235);
  assert.equal((await client.send('MAIL FROM:<alice@example.org>')).code, 250);
  assert.equal((await client.send('RCPT TO:<bob@example.net>')).code, 250);
  assert.equal((await client.send('DATA')).code, 354);
  const queued = await client.send('Subject: late\r\n\r\nsent during the drain\r\n.');
  assert.match(queued.last, /^250 2\.0\.0 \S+ Message queued$/);
  await client.send('QUIT');
  await closing;

  const steps = logged(server.logs, 'shutdown.step').map((l) => l.step);
  assert.deepEqual(steps, ['listeners', 'proxy', 'control', 'sessions', 'metrics', 'directories', 'spool']);
  assert.equal((await readdir(join(dir, 'queue'))).filter((f) => f.endsWith('.json')).length, 1);
});

test('Lifecycle: hooks run last-registered first, once, and a failing one does not stop the rest', async () => {
  const lifecycle = new Lifecycle();
  const ran: string[] = [];
  lifecycle.onClose('first', () => void ran.push('first'));
  lifecycle.onClose('broken', () => Promise.reject(new Error('stuck')));
  lifecycle.onClose('last', ({ graceMs }) => void ran.push(`last ${graceMs}`));
  const steps: string[] = [];
  const done = lifecycle.close({ graceMs: 5 }, (name, error) => steps.push(error === undefined ? name : `${name}: ${(error as Error).message}`));
  assert.equal(lifecycle.close({ graceMs: 99 }), done, 'a second close() is the same close');
  await done;
  assert.deepEqual(ran, ['last 5', 'first']);
  assert.deepEqual(steps, ['last', 'broken: stuck', 'first']);
  assert.throws(() => lifecycle.onClose('late', () => {}), /registered after close/);
});

test('a socket handed over with a peer is a session of that peer: its address is the one rules and events see', async () => {
  const { dir, cert } = await scratch();
  const server = await startPostern(basics(dir, cert) + USERS + auth('["plain"]'));
  // Stands in for a listener that learnt the client's address from elsewhere (a PROXY header).
  const front = createServer((socket) => server.running.generation.accept('smtp', socket, { address: '192.0.2.7', port: 4711 }));
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  try {
    const client = await SmtpClient.connect((front.address() as AddressInfo).port);
    assert.equal(client.greeting.code, 220);
    const connected = server.seen.find((e) => e.type === 'session.connect');
    assert.ok(connected?.type === 'session.connect');
    assert.equal(connected.remoteIp, '192.0.2.7');
    client.close();
  } finally {
    front.close();
    await server.close();
  }
});

test('shutdown is not held by a half-sent request on the metrics listener, nor does it keep SMTP sessions from their 421', async () => {
  const { dir, cert } = await scratch();
  const server = await startPostern(basics(dir, cert, { listeners: listeners({ smtp: 'smtp', metrics: 'http' }) }));
  const scraper = connect(server.port('metrics'), '127.0.0.1');
  await new Promise((resolve) => scraper.once('connect', resolve));
  scraper.on('error', () => undefined);
  scraper.write('GET /metrics HTTP/1.1\r\nHost: x\r\n'); // and never the blank line
  const client = await SmtpClient.connect(server.port('smtp'));
  try {
    await within(server.running.close(300), 'close()', 10_000);
    assert.match((await client.read()).last, /^421 /);
  } finally {
    // On a failure, what lets the shutdown end, so the run goes on.
    scraper.destroy();
    client.close();
  }
});
