// Reloads of a running server: the config file re-read and swapped in while clients keep submitting;
// a broken file refused with its position and the old rules kept; listeners added, removed, moved,
// and a clash that refuses the whole reload; certificates and memory-directory users re-read; a
// remote's cache kept across reloads that leave its settings alone.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { connect, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeCertificate, type TestCertificate } from './helpers/certs.js';
import { freePort, startDovecot } from './helpers/dovecot.js';
import { ALICE, memoryDirectory } from './helpers/fixtures.js';
import { basics, scratch, startPostern, type TestPostern } from './helpers/postern.js';
import { plain, secured, securedImplicit, SmtpClient } from './helpers/smtp.js';
import { eventually, within } from './helpers/wait.js';

const AUTH = `
[session.auth]
mechanisms = ["plain"]
lookup = "directory/local"
require = true
errors.wait = "1ms"
`;

/** A scratch directory, its certificate, and where the test's config file goes. */
async function setup(): Promise<{ dir: string; cert: TestCertificate; file: string }> {
  const { dir, cert } = await scratch();
  return { dir, cert, file: join(dir, 'postern.toml') };
}

/** The problem lines a reload logged. */
const loggedProblems = (server: TestPostern): string[] =>
  server.logs.map((l) => JSON.parse(l) as { event?: string; msg?: string }).flatMap((l) => (l.event === 'config.problem' ? [l.msg ?? ''] : []));

/** How a connection attempt to `port` ends: "220" for a greeting, else the socket error's code. */
function knock(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setEncoding('utf8');
    socket.once('data', (line: string) => (socket.destroy(), resolve(line.slice(0, 3))));
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    socket.once('close', () => resolve('closed'));
  });
}

/** AUTH PLAIN as alice, one message, QUIT; the queue id of the 250. Throws on any other reply. */
async function submit(client: SmtpClient, user = ALICE.name, password = ALICE.secret): Promise<string> {
  const expect = async (line: string, code: number): Promise<string> => {
    const reply = await client.send(line);
    if (reply.code !== code) throw new Error(`${line.split(' ')[0]} got "${reply.last}"`);
    return reply.last;
  };
  await expect(`AUTH PLAIN ${plain(user, password)}`, 235);
  await expect('MAIL FROM:<alice@example.org>', 250);
  await expect('RCPT TO:<bob@example.net>', 250);
  await expect('DATA', 354);
  const queued = await expect('Subject: reload\r\n\r\nsent while the config changes\r\n.', 250);
  await expect('QUIT', 221);
  return queued.split(' ')[2] ?? '';
}

test('reload under load: 20 clients submit through 10 reloads, one of a broken file; no session fails, every 250 is in the spool, the broken one is reported with its position and the rules before it stay', async (t) => {
  const CLIENTS = 20;
  const RELOADS = 10;
  const BROKEN = 6; // the 6th reload's file is broken
  const { dir, cert, file } = await setup();
  // The greeting names the version of the file a session's generation was built from.
  const config = (version: number, broken = false): string =>
    basics(dir, cert, { threads: 1, listeners: `\n[server.listener."submission"]\nbind = ["127.0.0.1:0"]\ngreeting = "v${version}"\n` }) +
    memoryDirectory([ALICE]) +
    // The broken file would also take PLAIN away: if any of it were applied, the clients' AUTH would fail.
    (broken ? AUTH.replace('["plain"]', '["login"]').replace('errors.wait = "1ms"', 'errors.wait = "5 parsecs"') : AUTH);
  const server = await startPostern(config(1), { file });

  interface Session {
    connectedAt: number;
    greetedAt: number;
    greeting: string;
    id: string;
  }
  const sessions: Session[] = [];
  const failures: string[] = [];
  let stop = false;
  const client = async (): Promise<void> => {
    // Bounded: a client stops at its 100th session even if the reloads have not finished.
    for (let n = 0; n < 100 && !stop; n++) {
      const connectedAt = performance.now();
      try {
        const c = await secured(server);
        const greetedAt = performance.now();
        sessions.push({ connectedAt, greetedAt, greeting: c.greeting.last, id: await submit(c) });
        c.close();
      } catch (error) {
        failures.push((error as Error).message);
      }
    }
  };
  const clients = Array.from({ length: CLIENTS }, client);

  // Each version's sessions: those that connected after its reload returned and were greeted before
  // the next reload began.
  const windows: { from: number; to: number; version: number }[] = [];
  let from = performance.now();
  let inForce = 1;
  let generation = 1;
  try {
    for (let version = 2; version <= RELOADS + 1; version++) {
      const since = from;
      // The clients keep submitting through every reload; half their number of sessions per version
      // shows each version served before the next reload.
      await eventually(() => sessions.filter((s) => s.connectedAt > since).length >= CLIENTS / 2, `sessions on version ${inForce}`, {
        timeout: 60_000,
      });
      windows.push({ from, to: performance.now(), version: inForce });
      const broken = version === BROKEN + 1;
      const text = config(version, broken);
      await writeFile(file, text);
      const result = await within(server.running.reload(), `reload ${version - 1}`, 60_000);
      if (broken) {
        const line = text.split('\n').findIndex((l) => l.startsWith('errors.wait')) + 1;
        assert.equal(result.ok, false);
        assert.equal(result.generation, generation, 'the running generation stays');
        assert.equal(result.problems.length, 1, result.problems.join('\n'));
        assert.match(result.problems[0]!, new RegExp(`^${file}:${line}:\\d+: session\\.auth\\.errors\\.wait: `));
        assert.deepEqual(loggedProblems(server), result.problems, 'each problem is logged as it is reported');
      } else {
        assert.deepEqual({ ok: result.ok, problems: result.problems }, { ok: true, problems: [] });
        assert.equal(result.generation, ++generation);
        inForce = version;
      }
      from = performance.now();
    }
  } finally {
    stop = true;
    await Promise.all(clients);
    await server.close();
  }

  t.diagnostic(`${sessions.length} sessions, ${windows.length} versions`);
  assert.deepEqual(failures, [], 'failed sessions');
  for (const window of windows) {
    const inWindow = sessions.filter((s) => s.connectedAt > window.from && s.greetedAt < window.to);
    assert.ok(inWindow.length > 0, `sessions on version ${window.version}`);
    for (const s of inWindow) assert.equal(s.greeting, `220 mx.test v${window.version}`);
  }
  const afterBroken = windows[BROKEN]!;
  assert.equal(afterBroken.version, BROKEN, 'after the broken reload the version before it serves');

  const files = new Set(await readdir(join(dir, 'queue')));
  const missing = sessions.filter((s) => !files.has(`${s.id}.eml`) || !files.has(`${s.id}.json`)).map((s) => s.id);
  assert.deepEqual(missing, [], 'messages answered 250 but not in the spool');
  assert.equal([...files].filter((f) => f.endsWith('.json')).length, sessions.length);
});

test('a reload re-reads the memory directory: a user added can log in, one removed cannot, and a session opened before keeps the users it started with; a moved queue.path is a warning', async () => {
  const { dir, cert, file } = await setup();
  const BOB = { name: 'bob', secret: 'bob-secret' };
  const server = await startPostern(basics(dir, cert) + memoryDirectory([ALICE]) + AUTH, { file });
  try {
    const before = await secured(server);
    await writeFile(file, basics(dir, cert).replace(join(dir, 'queue'), join(dir, 'elsewhere')) + memoryDirectory([BOB]) + AUTH);
    const result = await server.running.reload();
    assert.equal(result.ok, true);
    assert.ok(result.warnings.includes(`${file}: queue.path: the queue stays at ${join(dir, 'queue')} until a restart`), result.warnings.join('\n'));

    const bob = await secured(server);
    assert.equal((await bob.send(`AUTH PLAIN ${plain(BOB.name, BOB.secret)}`)).code, 235);
    const alice = await secured(server);
    assert.equal((await alice.send(`AUTH PLAIN ${plain(ALICE.name, ALICE.secret)}`)).code, 535);
    assert.equal((await before.send(`AUTH PLAIN ${plain(ALICE.name, ALICE.secret)}`)).code, 235);
    for (const c of [before, bob, alice]) c.close();
  } finally {
    await server.close();
  }
});

test('listeners: a reload adds one, removes one and moves one to another port while a listener in both keeps its socket and never refuses; a bind clash refuses the whole reload and keeps the old listener', async () => {
  const { dir, cert, file } = await setup();
  const [first, second] = [await freePort(), await freePort()];
  const tables = (binds: Record<string, string>, greeting = 'Postern test'): string =>
    basics(dir, cert, {
      listeners: Object.entries(binds)
        .map(([id, bind]) => `\n[server.listener."${id}"]\nbind = ["${bind}"]\ngreeting = "${greeting}"\n`)
        .join(''),
    }) + AUTH + memoryDirectory([ALICE]);
  const server = await startPostern(tables({ kept: '127.0.0.1:0', removed: '127.0.0.1:0', moved: `127.0.0.1:${first}` }), { file });
  try {
    const kept = server.port('kept');
    const removed = server.port('removed');
    const onRemoved = await SmtpClient.connect(removed);

    // Knocks on the kept listener all through the reload.
    let reloading = true;
    const knocks: string[] = [];
    const knocking = (async () => {
      for (let n = 0; n < 2_000 && (reloading || n < 5); n++) knocks.push(await knock(kept));
    })();
    await writeFile(file, tables({ kept: '127.0.0.1:0', moved: `127.0.0.1:${second}`, added: '127.0.0.1:0' }));
    const result = await server.running.reload();
    reloading = false;
    await knocking;
    assert.equal(result.ok, true, result.problems.join('\n'));
    assert.ok(knocks.length >= 5);
    assert.deepEqual(knocks.filter((k) => k !== '220'), [], 'the kept listener refused or dropped a connection');

    assert.deepEqual(server.running.listeners.map((l) => l.id), ['kept', 'moved', 'added']);
    assert.equal(server.port('kept'), kept, 'the kept listener keeps its socket');
    assert.equal(await knock(removed), 'ECONNREFUSED');
    assert.equal(await knock(first), 'ECONNREFUSED');
    assert.equal(await knock(second), '220');
    assert.equal(await knock(server.port('added')), '220');
    // A session the removed listener accepted before is its generation's to finish.
    assert.equal((await onRemoved.ehlo()).code, 250);
    assert.equal((await onRemoved.send('QUIT')).code, 221);
    const events = server.logs.map((l) => JSON.parse(l) as { event: string; listener?: string });
    assert.ok(events.some((e) => e.event === 'listener.down' && e.listener === 'removed'));
    assert.ok(events.some((e) => e.event === 'listener.up' && e.listener === 'added'));

    // A port someone else holds: the move, the listener beside it and the greeting all stay as they were.
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const held = (holder.address() as AddressInfo).port;
    try {
      await writeFile(file, tables({ kept: '127.0.0.1:0', moved: `127.0.0.1:${held}`, added: '127.0.0.1:0', extra: '127.0.0.1:0' }, 'changed'));
      const clash = await server.running.reload();
      assert.equal(clash.ok, false);
      assert.equal(clash.generation, 2);
      assert.deepEqual(clash.problems, [`${file}: server.listener.moved.bind: listen EADDRINUSE: address already in use 127.0.0.1:${held}`]);
      assert.deepEqual(server.running.listeners.map((l) => l.id), ['kept', 'moved', 'added']);
      assert.equal(server.port('moved'), second);
      const c = await SmtpClient.connect(second);
      assert.equal(c.greeting.last, '220 mx.test Postern test');
      c.close();
    } finally {
      holder.close();
    }
  } finally {
    await server.close();
  }
});

test('a certificate replaced on disk: after a reload new STARTTLS and implicit-TLS handshakes present the new one, sessions opened before keep the old one and still submit; an unreadable one refuses the reload', async () => {
  const { dir, cert, file } = await setup();
  const toml = basics(dir, cert) + memoryDirectory([ALICE]) + AUTH;
  const fingerprint = async (): Promise<string> => new X509Certificate(await readFile(cert.cert)).fingerprint256;
  const server = await startPostern(toml, { file });
  try {
    const old = await fingerprint();
    const plainBefore = await SmtpClient.connect(server.port('submission'));
    await plainBefore.ehlo();
    const tlsBefore = await secured(server);
    assert.equal(tlsBefore.peerFingerprint, old);

    await makeCertificate(dir, 'renewed'); // the same two files, a new key and certificate
    const renewed = await fingerprint();
    assert.notEqual(renewed, old);
    assert.equal((await server.running.reload()).ok, true);

    for (const after of [await secured(server), await securedImplicit(server)]) {
      assert.equal(after.peerFingerprint, renewed);
      after.close();
    }
    // Connected before the reload, STARTTLS after: its generation's certificate.
    assert.equal((await plainBefore.starttls()).code, 220);
    assert.equal(plainBefore.peerFingerprint, old);
    await plainBefore.ehlo();
    assert.match(await submit(tlsBefore), /\S/);
    assert.match(await submit(plainBefore), /\S/);

    await writeFile(cert.key, 'not a key\n');
    const broken = await server.running.reload();
    assert.equal(broken.ok, false);
    assert.equal(broken.problems.length, 1);
    assert.match(broken.problems[0]!, new RegExp(`^${file}: certificate\\.default: `));
    const still = await secured(server);
    assert.equal(still.peerFingerprint, renewed, 'the running generation keeps serving');
    still.close();
  } finally {
    await server.close();
  }
});

test("a remote's lookup cache survives reloads that leave its settings alone, even after a refused one that changed them; a reload that changes them starts it cold", async () => {
  const dovecot = await startDovecot({ users: { carol: 'carol-imap-secret' } });
  const { dir, cert, file } = await setup();
  const config = (extra: { size?: number; entries?: number; certificate?: string } = {}): string =>
    basics(dir, cert).replace(`cert = "file://${cert.cert}"`, `cert = "file://${extra.certificate ?? cert.cert}"`) +
    `
[session.auth]
mechanisms = ["plain"]
lookup = "remote/imap"
errors.wait = "1ms"
[session.data.limits]
size = ${extra.size ?? 1_000_000}
[remote."imap"]
address = "127.0.0.1"
port = ${dovecot.imapsPort}
protocol = "imap"
lookup = true
timeout = "5s"
tls.implicit = true
tls.allow-invalid-certs = true
cache.entries = ${extra.entries ?? 100}
`;
  const server = await startPostern(config(), { file });
  const auth = async (): Promise<number> => {
    const c = await secured(server);
    const { code } = await c.send(`AUTH PLAIN ${plain('carol', 'carol-imap-secret')}`);
    c.close();
    return code;
  };
  const reload = async (text: string): Promise<boolean> => {
    await writeFile(file, text);
    return (await server.running.reload()).ok;
  };
  try {
    assert.equal(await auth(), 235); // checked by Dovecot, and cached
    assert.equal(await reload(config({ size: 2_000_000 })), true);
    await dovecot.stop();
    assert.equal(await auth(), 235, 'the cache answered with Dovecot stopped');

    // Built, then refused: its new actor (other settings) must not become the one later reloads compare with.
    assert.equal(await reload(config({ entries: 50, certificate: join(dir, 'missing.pem') })), false);
    assert.equal(await auth(), 235);
    assert.equal(await reload(config({ size: 3_000_000 })), true);
    assert.equal(await auth(), 235, 'the cache survived the refused reload');

    // Changed settings: a new actor with an empty cache, and Dovecot is down.
    assert.equal(await reload(config({ size: 3_000_000, entries: 50 })), true);
    assert.equal(await auth(), 454);
  } finally {
    await server.close();
    await dovecot.stop();
  }
});
