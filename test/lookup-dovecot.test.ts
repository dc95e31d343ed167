// The lookup actor against a real Dovecot: verdicts, TLS modes, cache, single-flight, concurrency, timeouts.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RemoteConfig } from '../src/config/types.js';
import { EventBus, type PosternEvent } from '../src/events.js';
import { LookupActor, type LookupActorOptions } from '../src/directory/imap/actor.js';
import type { Credentials } from '../src/sasl/types.js';
import { startCountingProxy, startDovecot, startHungServer, startPreauthServer, type RunningDovecot } from './helpers/dovecot.js';
import { remoteConfig as remote } from './helpers/fixtures.js';

const DAY = 86_400_000;
// erin: only the single-flight test logs in as her, so its login count is hers alone.
const USERS: Record<string, string> = { alice: 'alice:pass 1', bob: 'bob-pass', erin: 'erin-pass' };
for (let i = 0; i < 50; i++) USERS[`user${i}`] = `pw-${i}`;
const TOKENS = { 'tok-alice': 'alice' };

const plain = (user: string, password: string): Credentials => ({ kind: 'password', mechanism: 'PLAIN', user, password });
const login = (user: string, password: string): Credentials => ({ kind: 'password', mechanism: 'LOGIN', user, password });

let dovecot: RunningDovecot;
const started: { close(): Promise<void> }[] = [];

before(async () => {
  dovecot = await startDovecot({ users: USERS, tokens: TOKENS, brokenTokens: ['tok-broken'] });
});

after(async () => {
  await Promise.all(started.map((actor) => actor.close()));
  await dovecot.stop();
});

/** An actor with its own bus; `seen` records every event. */
function actor(config: RemoteConfig, options: LookupActorOptions = {}): { actor: LookupActor; seen: PosternEvent[] } {
  const events = new EventBus();
  const seen: PosternEvent[] = [];
  events.on((event) => seen.push(event));
  const created = new LookupActor(config, events, options);
  started.push(created);
  return { actor: created, seen };
}

const count = (seen: PosternEvent[], match: (e: PosternEvent) => boolean): number => seen.filter(match).length;
const hits = (seen: PosternEvent[], polarity: 'positive' | 'negative'): number =>
  count(seen, (e) => e.type === 'lookup.cache' && e.outcome === 'hit' && e.polarity === polarity);

test('implicit TLS and STARTTLS: right password ok, wrong password or unknown user bad', async () => {
  const implicit = actor(remote(dovecot.imapsPort)).actor;
  const starttls = actor(remote(dovecot.imapPort, { tls: { implicit: false, allowInvalidCerts: true } })).actor;
  const results = await Promise.all([
    implicit.verify(plain('alice', 'alice:pass 1')),
    implicit.verify(login('bob', 'bob-pass')),
    implicit.verify(plain('alice', 'wrong')),
    implicit.verify(plain('nobody', 'x')),
    starttls.verify(plain('alice', 'alice:pass 1')),
    starttls.verify(plain('bob', 'wrong')),
  ]);
  assert.deepEqual(results, [
    { kind: 'ok', user: 'alice' },
    { kind: 'ok', user: 'bob' },
    { kind: 'bad' },
    { kind: 'bad' },
    { kind: 'ok', user: 'alice' },
    { kind: 'bad' },
  ]);
});

test('the SMTP client\'s address reaches Dovecot (ID x-originating-ip) as a login\'s rip', async () => {
  const { actor: a } = actor(remote(dovecot.imapsPort));
  assert.deepEqual(await a.verify(plain('bob', 'bob-pass'), { remoteIp: '192.0.2.77' }), { kind: 'ok', user: 'bob' });
  assert.ok((await dovecot.loginAddresses()).includes('192.0.2.77'));
});

test('OAUTHBEARER and XOAUTH2 go to Dovecot as that mechanism', async () => {
  const { actor: lookup, seen } = actor(remote(dovecot.imapsPort));
  const token = (mechanism: 'OAUTHBEARER' | 'XOAUTH2', value: string): Credentials => ({
    kind: 'token',
    mechanism,
    user: 'alice',
    token: value,
  });
  const results = await Promise.all([
    lookup.verify(token('OAUTHBEARER', 'tok-alice')),
    lookup.verify(token('XOAUTH2', 'tok-alice')),
    lookup.verify(token('OAUTHBEARER', 'tok-nope')),
    lookup.verify(token('XOAUTH2', 'tok-nope')),
  ]);
  assert.deepEqual(results, [{ kind: 'ok', user: 'alice' }, { kind: 'ok', user: 'alice' }, { kind: 'bad' }, { kind: 'bad' }]);
  // Dovecot offers both; imapflow alone would have sent the XOAUTH2 token as OAUTHBEARER.
  const methods = await dovecot.loginMethods();
  assert.ok(methods.includes('OAUTHBEARER'), methods.join());
  assert.ok(methods.includes('XOAUTH2'), methods.join());
  assert.equal(count(seen, (e) => e.type === 'lookup.check' && e.result === 'ok'), 2);
});

test('NO [UNAVAILABLE] from Dovecot (token introspection down) is a tempfail, not cached', async () => {
  const lookup = actor(remote(dovecot.imapsPort)).actor;
  const broken: Credentials = { kind: 'token', mechanism: 'OAUTHBEARER', user: 'alice', token: 'tok-broken' };
  const verdict = await lookup.verify(broken);
  assert.equal(verdict.kind, 'tempfail');
  assert.match(verdict.kind === 'tempfail' ? verdict.reason : '', /UNAVAILABLE/);
  assert.deepEqual([lookup.stats().positive, lookup.stats().negative], [0, 0]);
});

test('cached verdicts survive Dovecot stopping; a cold check then tempfails and caches nothing', async () => {
  const own = await startDovecot({ users: { carol: 'carol-pw', dave: 'dave-pw' } });
  try {
    const { actor: lookup, seen } = actor(remote(own.imapsPort));
    const first = await Promise.all([lookup.verify(plain('carol', 'carol-pw')), lookup.verify(plain('carol', 'nope'))]);
    assert.deepEqual(first, [{ kind: 'ok', user: 'carol' }, { kind: 'bad' }]);
    await own.stop();

    const again = await Promise.all([lookup.verify(plain('carol', 'carol-pw')), lookup.verify(plain('carol', 'nope'))]);
    assert.deepEqual(again, [{ kind: 'ok', user: 'carol' }, { kind: 'bad' }]);
    assert.equal(hits(seen, 'positive'), 1);
    assert.equal(hits(seen, 'negative'), 1);

    const cold = await lookup.verify(plain('dave', 'dave-pw'));
    assert.equal(cold.kind, 'tempfail');
    assert.deepEqual([lookup.stats().positive, lookup.stats().negative], [1, 1]);
    // Not cached: asked again, it is checked again (and fails again).
    assert.equal((await lookup.verify(plain('dave', 'dave-pw'))).kind, 'tempfail');
    assert.equal(count(seen, (e) => e.type === 'lookup.check' && e.result === 'tempfail'), 2);
  } finally {
    await own.stop();
  }
});

test('allow-invalid-certs = false rejects the self-signed Dovecot before any login', async () => {
  const before = await dovecot.logins();
  const implicit = actor(remote(dovecot.imapsPort, { tls: { implicit: true, allowInvalidCerts: false } })).actor;
  const starttls = actor(remote(dovecot.imapPort, { tls: { implicit: false, allowInvalidCerts: false } })).actor;
  const results = await Promise.all([implicit.verify(plain('alice', 'alice:pass 1')), starttls.verify(plain('alice', 'alice:pass 1'))]);
  assert.deepEqual(results.map((v) => v.kind), ['tempfail', 'tempfail']);
  assert.equal(implicit.stats().positive + implicit.stats().negative, 0);
  assert.equal(await dovecot.logins(), before);
});

test('STARTTLS required: a server that does not offer it never sees the credentials', async () => {
  const clear = await startDovecot({ users: { alice: 'alice-pw' }, tls: false });
  try {
    const lookup = actor(remote(clear.imapPort, { tls: { implicit: false, allowInvalidCerts: true } })).actor;
    const verdict = await lookup.verify(plain('alice', 'alice-pw'));
    assert.equal(verdict.kind, 'tempfail');
    assert.equal(await clear.logins(), 0);
  } finally {
    await clear.stop();
  }
});

test('a server that never greets: tempfail once `timeout` runs out, connection closed', async () => {
  const hung = await startHungServer();
  try {
    const lookup = actor(remote(hung.port, { timeout: 300 })).actor;
    const verdict = await lookup.verify(plain('alice', 'alice:pass 1'));
    assert.equal(verdict.kind, 'tempfail');
    assert.match(verdict.kind === 'tempfail' ? verdict.reason : '', /timed out/);
    await lookup.close(); // waits for the connection to be gone
    assert.equal(lookup.stats().open, 0);
    assert.equal(hung.accepted(), 1);
  } finally {
    await hung.stop();
  }
});

test('a server that greets PREAUTH (logged in before any credentials): tempfail, nothing cached, credentials never sent', async () => {
  const preauth = await startPreauthServer();
  try {
    const lookup = actor(remote(preauth.port)).actor;
    const verdict = await lookup.verify(plain('victim', 'any password at all'));
    assert.equal(verdict.kind, 'tempfail');
    assert.match(verdict.kind === 'tempfail' ? verdict.reason : '', /PREAUTH/);
    assert.equal(lookup.stats().positive, 0);
    assert.equal(lookup.stats().negative, 0);
    // the credentials never went to a server that would not have checked them
    assert.ok(!preauth.commands.some((c) => c === 'LOGIN' || c === 'AUTHENTICATE'), preauth.commands.join(' '));
  } finally {
    await preauth.stop();
  }
});

test('50 concurrent checks for distinct users never hold more than `concurrency` IMAP connections', async () => {
  const proxy = await startCountingProxy(dovecot.imapsPort);
  try {
    const lookup = actor(remote(proxy.port, { concurrency: 4 })).actor;
    const pending = Array.from({ length: 50 }, (_, i) => lookup.verify(plain(`user${i}`, `pw-${i}`)));
    assert.deepEqual([lookup.stats().open, lookup.stats().queued], [4, 46]);
    const verdicts = await Promise.all(pending);
    assert.ok(verdicts.every((v) => v.kind === 'ok'));
    assert.ok(proxy.maxOpen(25) <= 4, `max ${proxy.maxOpen(25)} open at the IMAP side`);
    assert.equal(proxy.total(), 50);
    assert.equal(lookup.stats().positive, 50);
  } finally {
    await proxy.stop();
  }
});

test('50 identical cold checks share one login at Dovecot (single-flight)', async () => {
  const { actor: lookup, seen } = actor(remote(dovecot.imapsPort));
  const verdicts = await Promise.all(Array.from({ length: 50 }, () => lookup.verify(plain('erin', 'erin-pass'))));
  assert.ok(verdicts.every((v) => v.kind === 'ok'));
  assert.equal(await dovecot.logins('erin'), 1);
  assert.equal(count(seen, (e) => e.type === 'lookup.join'), 49);
  assert.equal(count(seen, (e) => e.type === 'lookup.check'), 1);
});

test('positive and negative TTLs expire separately (negative really is ttl.negative)', async () => {
  // lru-cache treats an entry stored at time 0 as having no TTL: the fake clock starts later.
  let now = 1_000;
  const clock = { now: () => now };
  const shortNegative = actor(remote(dovecot.imapsPort, {}, { positiveTtl: DAY, negativeTtl: 300 }), { clock });
  const shortPositive = actor(remote(dovecot.imapsPort, {}, { positiveTtl: 300, negativeTtl: DAY }), { clock });
  const all = [shortNegative, shortPositive];
  const round = () =>
    Promise.all(all.flatMap(({ actor: a }) => [a.verify(plain('alice', 'alice:pass 1')), a.verify(plain('alice', 'wrong'))]));
  await round();
  now += 301;
  await round();
  const checks = ({ seen }: { seen: PosternEvent[] }): string[] =>
    seen.flatMap((e) => (e.type === 'lookup.check' ? [e.result] : []));
  // Each actor re-checked exactly the polarity whose TTL ran out and answered the other from cache.
  assert.deepEqual(checks(shortNegative).sort(), ['bad', 'bad', 'ok']);
  assert.equal(hits(shortNegative.seen, 'positive'), 1);
  assert.deepEqual(checks(shortPositive).sort(), ['bad', 'ok', 'ok']);
  assert.equal(hits(shortPositive.seen, 'negative'), 1);
});

test('LRU eviction at cache.entries; a cached positive never answers another password', async () => {
  const { actor: lookup, seen } = actor(remote(dovecot.imapsPort, {}, { entries: 2 }));
  for (const user of ['user0', 'user1', 'user2']) assert.equal((await lookup.verify(plain(user, `pw-${user.slice(4)}`))).kind, 'ok');
  assert.equal(count(seen, (e) => e.type === 'lookup.evict' && e.polarity === 'positive'), 1);
  assert.equal(lookup.stats().positive, 2);
  // user0 was least recently used: checked again; user2 still cached.
  await lookup.verify(plain('user2', 'pw-2'));
  assert.equal(hits(seen, 'positive'), 1);
  await lookup.verify(plain('user0', 'pw-0'));
  assert.equal(count(seen, (e) => e.type === 'lookup.check'), 4);

  assert.deepEqual(await lookup.verify(plain('user2', 'not-pw-2')), { kind: 'bad' });
  assert.equal(count(seen, (e) => e.type === 'lookup.check'), 5);
});

test('a queued check that gets no connection within `timeout` tempfails without ever running', async () => {
  const hung = await startHungServer();
  try {
    const { actor: lookup, seen } = actor(remote(hung.port, { concurrency: 1, timeout: 300 }));
    // a holds the one connection until its timeout; b and c queue behind it (b may get the slot a frees).
    const [, , c] = await Promise.all(['a', 'b', 'c'].map((user) => lookup.verify(plain(user, 'x'))));
    assert.deepEqual(c, { kind: 'tempfail', reason: 'no IMAP connection free within 300 ms' });
    assert.ok(count(seen, (e) => e.type === 'lookup.queue_timeout') >= 1);
    await lookup.close();
    assert.ok(hung.accepted() <= 2, `${hung.accepted()} connections: c's check ran after its 454`);
    assert.deepEqual(lookup.stats(), { queued: 0, open: 0, concurrency: 1, positive: 0, negative: 0 });
  } finally {
    await hung.stop();
  }
});

test('queue overflow tempfails at once; close() tempfails the queue and waits for open checks', async () => {
  const hung = await startHungServer();
  try {
    const { actor: lookup, seen } = actor(remote(hung.port, { concurrency: 1, timeout: 300 }), { maxQueue: 2 });
    const pending = ['a', 'b', 'c'].map((user) => lookup.verify(plain(user, 'x')));
    assert.deepEqual(await lookup.verify(plain('d', 'x')), { kind: 'tempfail', reason: 'lookup queue full' });
    assert.equal(count(seen, (e) => e.type === 'lookup.overflow'), 1);
    await lookup.close();
    const verdicts = await Promise.all(pending);
    assert.deepEqual(verdicts.map((v) => v.kind), ['tempfail', 'tempfail', 'tempfail']);
    assert.deepEqual(verdicts.slice(1), [{ kind: 'tempfail', reason: 'lookup closed' }, { kind: 'tempfail', reason: 'lookup closed' }]);
    assert.equal(lookup.stats().open, 0);
    assert.equal(hung.accepted(), 1);
    assert.equal((await lookup.verify(plain('e', 'x'))).kind, 'tempfail');
  } finally {
    await hung.stop();
  }
});
