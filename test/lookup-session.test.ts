// What one IMAP check says and waits for: its client turns counted at a delaying proxy in front of a
// real Dovecot, and the variations of the exchange (no capabilities in the greeting, no SASL-IR, no
// or a refused ID, a `+` after the initial response) against a scripted server, since Dovecot
// cannot be made to show them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EventBus } from '../src/events.js';
import { LookupActor } from '../src/directory/imap/actor.js';
import type { Credentials } from '../src/sasl/types.js';
import { startDovecot, type RunningDovecot } from './helpers/dovecot.js';
import { remoteConfig } from './helpers/fixtures.js';
import { clientTurns, startLatencyProxy, type LatencyProxy } from './helpers/latency-proxy.js';
import { startScriptedImap, type ImapScript } from './helpers/scripted-imap.js';
import { within } from './helpers/wait.js';

const plain = (user: string, password: string): Credentials => ({ kind: 'password', mechanism: 'PLAIN', user, password });
const bearer = (mechanism: 'OAUTHBEARER' | 'XOAUTH2', token: string): Credentials => ({ kind: 'token', mechanism, user: 'alice', token });

let dovecot: RunningDovecot;
const closing: { close(): Promise<void> }[] = [];

before(async () => {
  dovecot = await startDovecot({ users: { alice: 'alice-pw' }, tokens: { 'tok-alice': 'alice' } });
});

after(async () => {
  await Promise.all(closing.map((c) => c.close()));
  await dovecot.stop();
});

/** A lookup; caching off by default, so every verify() is one IMAP check on its own connection. */
function lookup(port: number, implicit: boolean, entries = 0): LookupActor {
  const actor = new LookupActor(remoteConfig(port, { tls: { implicit, allowInvalidCerts: true } }, { entries }), new EventBus());
  closing.push(actor);
  return actor;
}

/** Each check on a lookup of its own through `proxy`, one at a time; the client turns of each one's connection. */
async function turnsOf(proxy: LatencyProxy, implicit: boolean, checks: [Credentials, string][]): Promise<number[]> {
  const turns: number[] = [];
  for (const [credentials, expected] of checks) {
    const actor = lookup(proxy.port, implicit);
    const before = proxy.traces().length;
    assert.equal((await actor.verify(credentials, { remoteIp: '192.0.2.9' })).kind, expected);
    // close() waits for the check's connection to be closed: its trace is whole.
    await actor.close();
    const trace = proxy.traces()[before];
    assert.ok(trace !== undefined && proxy.traces().length === before + 1, 'one connection per check');
    turns.push(clientTurns(trace));
  }
  return turns;
}

const VERDICTS: [Credentials, string][] = [
  [plain('alice', 'alice-pw'), 'ok'],
  [plain('alice', 'wrong'), 'bad'],
  [bearer('OAUTHBEARER', 'tok-alice'), 'ok'],
  [bearer('XOAUTH2', 'tok-alice'), 'ok'],
];

/**
 * VERDICTS against the real Dovecot's `port`, through a proxy adding 40 ms round trips: flights are
 * told apart by what reached the client before it sent more, so a slow machine cannot split one;
 * the delay itself is not what is tested.
 */
async function turnsAtDovecot(port: number, implicit: boolean): Promise<number[]> {
  const proxy = await startLatencyProxy({ targetPort: port, rttMs: 40 });
  try {
    return await turnsOf(proxy, implicit, VERDICTS);
  } finally {
    await proxy.stop();
  }
}

test('a check over STARTTLS takes 4 client turns at Dovecot (target ≤ 5): STARTTLS, TLS hello, Finished + CAPABILITY, ID + AUTHENTICATE', async () => {
  assert.deepEqual(await turnsAtDovecot(dovecot.imapPort, false), [4, 4, 4, 4]);
});

test('a check over implicit TLS takes 3 client turns at Dovecot (target ≤ 3): TLS hello, Finished, ID + AUTHENTICATE', async () => {
  assert.deepEqual(await turnsAtDovecot(dovecot.imapsPort, true), [3, 3, 3, 3]);
});

/** Runs `checks` against a scripted server; returns their verdict kinds and the server's record. */
async function scripted(script: Omit<ImapScript, 'user' | 'password'>, passwords: string[]) {
  const server = await startScriptedImap({ ...script, user: 'carol', password: 'carol-pw' });
  try {
    const actor = lookup(server.port, script.implicit);
    const kinds = [];
    for (const password of passwords) kinds.push((await actor.verify(plain('carol', password), { remoteIp: '192.0.2.9' })).kind);
    await actor.close();
    return { kinds, commands: server.commands, names: server.commands.map((c) => (c.secure ? c.name : `${c.name} (clear)`)) };
  } finally {
    await server.stop();
  }
}

test('a greeting without capabilities: CAPABILITY is asked first, then the check runs as usual (≤ 5 turns over STARTTLS)', async () => {
  const server = await startScriptedImap({ implicit: false, greetingCapabilities: false, user: 'carol', password: 'carol-pw' });
  const proxy = await startLatencyProxy({ targetPort: server.port, rttMs: 40 });
  try {
    assert.deepEqual(await turnsOf(proxy, false, [[plain('carol', 'carol-pw'), 'ok']]), [5]);
    assert.deepEqual(server.commands.map((c) => `${c.name}${c.secure ? '' : ' (clear)'}`), [
      'CAPABILITY (clear)',
      'STARTTLS (clear)',
      'CAPABILITY',
      'ID',
      'AUTHENTICATE',
    ]);
    assert.deepEqual((await scripted({ implicit: true, greetingCapabilities: false }, ['carol-pw', 'nope'])).kinds, ['ok', 'bad']);
  } finally {
    await proxy.stop();
    await server.stop();
  }
});

test('no SASL-IR: AUTHENTICATE PLAIN waits for the server\'s + before the credentials; verdicts unchanged', async () => {
  for (const implicit of [false, true]) {
    const { kinds, commands } = await scripted({ implicit, saslIr: false }, ['carol-pw', 'nope']);
    assert.deepEqual(kinds, ['ok', 'bad'], `implicit ${implicit}`);
    const authenticates = commands.filter((c) => c.name === 'AUTHENTICATE');
    assert.deepEqual(authenticates.map((c) => c.initialResponse), [false, false]);
  }
});

test('ID goes in front of the authentication with the client\'s address; a server that answers it BAD still gives the verdict', async () => {
  const refused = await scripted({ implicit: false, id: 'BAD' }, ['carol-pw', 'nope']);
  assert.deepEqual(refused.kinds, ['ok', 'bad']);
  const answered = await scripted({ implicit: true }, ['carol-pw']);
  assert.deepEqual(answered.names, ['ID', 'AUTHENTICATE']);
  assert.equal(answered.commands[1]?.initialResponse, true);
  assert.match(answered.commands[0]?.args ?? '', /"x-originating-ip" "192\.0\.2\.9"/);
});

test('a server that drops the connection at ID: tempfail at once, not at `timeout`', async () => {
  for (const implicit of [false, true]) {
    const server = await startScriptedImap({ implicit, id: 'close', user: 'carol', password: 'carol-pw' });
    try {
      // Not closed by after(): a check that hung would hold it for all of `timeout`.
      const actor = new LookupActor(remoteConfig(server.port, { timeout: 30_000, tls: { implicit, allowInvalidCerts: true } }), new EventBus());
      const verdict = await within(actor.verify(plain('carol', 'carol-pw')), `the check (implicit ${implicit})`, 10_000);
      assert.equal(verdict.kind, 'tempfail');
    } finally {
      await server.stop();
    }
  }
});

test('a server that does not offer ID is not sent one', async () => {
  const { kinds, names } = await scripted({ implicit: true, id: 'absent' }, ['carol-pw', 'nope']);
  assert.deepEqual(kinds, ['ok', 'bad']);
  assert.deepEqual(names, ['AUTHENTICATE', 'AUTHENTICATE']);
});

test('nothing follows the verdict: no second ID, no NAMESPACE, no LOGOUT', async () => {
  const { names } = await scripted({ implicit: false }, ['carol-pw', 'nope']);
  assert.deepEqual(names, ['STARTTLS (clear)', 'CAPABILITY', 'ID', 'AUTHENTICATE', 'STARTTLS (clear)', 'CAPABILITY', 'ID', 'AUTHENTICATE']);
});

test('a server that offers SASL-IR and still asks with + after the initial response: cancelled, tempfail, nothing cached', async () => {
  const server = await startScriptedImap({ implicit: true, plusAfterInitialResponse: true, user: 'carol', password: 'carol-pw' });
  try {
    const actor = lookup(server.port, true, 100);
    const verdict = await actor.verify(plain('carol', 'carol-pw'));
    assert.equal(verdict.kind, 'tempfail');
    assert.deepEqual([actor.stats().positive, actor.stats().negative], [0, 0]);
  } finally {
    await server.stop();
  }
});
