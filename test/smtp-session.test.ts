// Session behaviour beyond the reply table: listeners and TLS, rules on remote-ip, errors.wait,
// temporary failures, the spool, and what the log may contain.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ALICE, memoryDirectory } from './helpers/fixtures.js';
import { b64, plain, secured, securedImplicit, SmtpClient } from './helpers/smtp.js';
import { basics, scratch, startDeadRemote, startPostern, type TestPostern } from './helpers/postern.js';
import { eventually } from './helpers/wait.js';

const DIRECTORY = memoryDirectory([ALICE]);

async function submit(c: SmtpClient, body: string): Promise<string> {
  assert.equal((await c.send('MAIL FROM:<alice@example.org>')).code, 250);
  assert.equal((await c.send('RCPT TO:<bob@example.net>')).code, 250);
  assert.equal((await c.send('RCPT TO:<carol@example.net>')).code, 250);
  assert.equal((await c.send('DATA')).code, 354);
  return (await c.send(`${body}\r\n.`)).last;
}

describe('listeners, TLS, spool and logs', () => {
  let server: TestPostern;
  let queue: string;

  before(async () => {
    const { dir, cert } = await scratch();
    queue = join(dir, 'queue');
    server = await startPostern(`${basics(dir, cert)}
[session.data.limits]
size = 2048
[session.auth]
mechanisms = [ { if = "listener", ne = "smtp", then = ["plain", "login"] }, { else = [] } ]
lookup = [ { if = "listener", ne = "smtp", then = "directory/local" }, { else = false } ]
require = [ { if = "listener", ne = "smtp", then = true }, { else = false } ]
errors.wait = "1ms"
${DIRECTORY}`);
  });
  after(() => server.close());

  test('implicit TLS: PLAIN/LOGIN offered at once, AUTH works without STARTTLS', async () => {
    const c = await SmtpClient.connect(server.port('submissions'), { tls: true });
    const ehlo = await c.ehlo();
    assert.deepEqual(SmtpClient.mechanisms(ehlo), ['PLAIN', 'LOGIN']);
    assert.ok(!ehlo.lines.includes('STARTTLS'));
    assert.equal((await c.send(`AUTH PLAIN ${plain('alice', 'alice-secret')}`)).code, 235);
    c.close();
  });

  test('an accepted message lands in the spool: raw message plus envelope record', async () => {
    const c = await secured(server);
    await c.send(`AUTH PLAIN ${plain('alice', 'alice-secret')}`);
    const reply = await submit(c, 'Subject: hello\r\n\r\nHi Bob.');
    const match = /^250 2\.0\.0 (\S+) Message queued$/.exec(reply);
    assert.ok(match, reply);
    const id = match[1]!;
    const envelope = JSON.parse(await readFile(join(queue, `${id}.json`), 'utf8')) as Record<string, unknown>;
    assert.equal(envelope.id, id);
    assert.equal(envelope.user, 'alice');
    assert.equal(envelope.mailFrom, 'alice@example.org');
    assert.deepEqual(envelope.rcptTo, ['bob@example.net', 'carol@example.net']);
    assert.equal(envelope.listener, 'submission');
    assert.equal(envelope.remoteIp, '127.0.0.1');
    assert.ok(!Number.isNaN(Date.parse(String(envelope.receivedAt))));
    const raw = await readFile(join(queue, `${id}.eml`), 'utf8');
    assert.match(raw, /^Subject: hello\r\n\r\nHi Bob\.\r\n$/);
    assert.deepEqual(await readdir(join(queue, 'tmp')), []);
    c.close();
  });

  test('a message over session.data.limits.size gets 552 and leaves nothing behind', async () => {
    const before = (await readdir(queue)).sort();
    const c = await secured(server);
    await c.send(`AUTH PLAIN ${plain('alice', 'alice-secret')}`);
    const reply = await submit(c, `Subject: big\r\n\r\n${'x'.repeat(70)}\r\n`.repeat(60));
    assert.equal(reply, '552 5.3.4 Message too big for system.');
    assert.deepEqual((await readdir(queue)).sort(), before);
    assert.deepEqual(await readdir(join(queue, 'tmp')), []);
    // the session goes on
    assert.equal((await c.send('NOOP')).code, 250);
    c.close();
  });

  test('the smtp listener needs no AUTH to submit', async () => {
    const c = await SmtpClient.connect(server.port('smtp'));
    await c.ehlo();
    assert.match(await submit(c, 'Subject: x\r\n\r\nbody'), /^250 2\.0\.0 \S+ Message queued$/);
    c.close();
  });

  test('the log has connect, AUTH result (user, mechanism, session), queued and close lines, and never a password', async () => {
    const c = await secured(server);
    await c.send(`AUTH PLAIN ${plain('alice', 'wrong-password-42')}`);
    await c.send(`AUTH PLAIN ${plain('alice', 'alice-secret')}`);
    await c.send('QUIT').catch(() => undefined);
    await c.closedPromise;
    // The client's side closing comes before the server's: wait for this session's close line.
    const entries = (): Record<string, unknown>[] => server.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    const session = entries().findLast((l) => l.event === 'auth.result')?.sessionId;
    await eventually(() => entries().some((l) => l.event === 'session.close' && l.sessionId === session), 'the session.close line');
    const all = server.logs.join('\n');
    for (const secret of ['alice-secret', 'wrong-password-42', plain('alice', 'alice-secret'), b64('alice-secret')]) {
      assert.ok(!all.includes(secret), `log contains ${secret}`);
    }
    const events = server.logs.map((l) => (JSON.parse(l) as { event?: string }).event);
    for (const e of ['session.connect', 'auth.result', 'message.queued', 'session.close']) assert.ok(events.includes(e), e);
    const auth = server.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.event === 'auth.result');
    assert.ok(auth.some((l) => l.result === 'success' && l.user === 'alice' && l.mechanism === 'PLAIN' && typeof l.sessionId === 'string'));
  });
});

describe('rules on remote-ip, errors.wait, temporary failures', () => {
  let server: TestPostern;
  let dead: { toml: string; close(): void };

  before(async () => {
    // A real refused/closed peer: accepts and closes at once, so every IMAP check fails as infrastructure.
    dead = await startDeadRemote();
    const { dir, cert } = await scratch();
    server = await startPostern(`${basics(dir, cert)}
[session.auth]
mechanisms = [ { if = "remote-ip", eq = "127.0.0.0/8", then = ["plain"] }, { else = [] } ]
lookup = [ { if = "listener", eq = "submissions", then = "remote/down" }, { else = "directory/local" } ]
errors.total = 2
errors.wait = [ { if = "listener", eq = "submission", then = "400ms" }, { else = "1ms" } ]
${dead.toml}${DIRECTORY}`);
  });
  after(async () => {
    await server.close();
    dead.close();
  });

  test('a remote-ip rule matching loopback offers PLAIN', async () => {
    const c = await secured(server);
    assert.deepEqual(SmtpClient.mechanisms(await c.ehlo()), ['PLAIN']);
    c.close();
  });

  test('errors.wait is slept before a counted failure reply', async () => {
    const c = await secured(server);
    // The delay itself is what is tested: 400 ms configured, 20 ms allowed for timer granularity.
    const started = Date.now();
    assert.equal((await c.send(`AUTH PLAIN ${plain('alice', 'nope')}`)).code, 535);
    assert.ok(Date.now() - started >= 380, `answered after ${Date.now() - started} ms`);
    c.close();
  });

  test('lookup unavailable is 454 4.7.0, and 454s are not counted', async () => {
    const c = await securedImplicit(server);
    for (let i = 0; i < 3; i++) {
      assert.equal((await c.send(`AUTH PLAIN ${plain('alice', 'alice-secret')}`)).last, '454 4.7.0 Temporary authentication failure');
    }
    assert.equal((await c.send('NOOP')).code, 250);
    c.close();
  });
});

describe('mechanisms that follow helo-domain', () => {
  let server: TestPostern;

  before(async () => {
    const { dir, cert } = await scratch();
    server = await startPostern(`${basics(dir, cert)}
[session.auth]
mechanisms = [ { if = "helo-domain", ends-with = ".trusted.example", then = ["plain"] }, { else = [] } ]
lookup = "directory/local"
errors.wait = "1ms"
${DIRECTORY}`);
  });
  after(() => server.close());

  test('EHLO and AUTH see the mechanisms for the name the client gave, re-evaluated at each EHLO', async () => {
    const c = await SmtpClient.connect(server.port('submission'));
    await c.ehlo('laptop.trusted.example');
    await c.starttls();
    assert.deepEqual(SmtpClient.mechanisms(await c.ehlo('laptop.other.example')), []);
    assert.equal((await c.send(`AUTH PLAIN ${plain('alice', 'alice-secret')}`)).last, '503 5.5.1 AUTH not allowed.');
    assert.deepEqual(SmtpClient.mechanisms(await c.ehlo('laptop.trusted.example')), ['PLAIN']);
    assert.equal((await c.send(`AUTH PLAIN ${plain('alice', 'alice-secret')}`)).code, 235);
    c.close();
  });
});
