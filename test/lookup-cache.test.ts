// VerdictCache: HMAC keys, polarity, TTLs and LRU eviction, on the cache alone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VerdictCache, type Polarity } from '../src/directory/imap/cache.js';
import type { Credentials } from '../src/sasl/types.js';

const DAY = 86_400_000;
const plain = (user: string, password: string): Credentials => ({ kind: 'password', mechanism: 'PLAIN', user, password });

/** A clock that moves only when told; it starts above 0, which lru-cache would take as "no TTL". */
function fakeClock(): { now(): number; advance(ms: number): void } {
  let time = 1_000;
  return { now: () => time, advance: (ms) => (time += ms) };
}

function cache(entries = 10, positiveTtl = DAY, negativeTtl = DAY, evicted: Polarity[] = [], clock?: { now(): number }): VerdictCache {
  return new VerdictCache({ entries, positiveTtl, negativeTtl, onEvict: (p) => evicted.push(p), clock });
}

test('cache keys: never the plaintext, the secret is covered, fields cannot run together', () => {
  const c = cache();
  const key = c.key(plain('alice', 'hunter2'));
  assert.ok(!key.includes('alice') && !key.includes('hunter2'));
  assert.equal(c.key(plain('alice', 'hunter2')), key);
  assert.notEqual(c.key(plain('alice', 'hunter3')), key);
  assert.notEqual(c.key(plain('alic', 'ehunter2')), key);
  assert.notEqual(c.key(plain('alice\0', 'hunter2')), key);
  // PLAIN and LOGIN are the same check; each token mechanism is its own.
  assert.equal(c.key({ kind: 'password', mechanism: 'LOGIN', user: 'alice', password: 'hunter2' }), key);
  const bearer = c.key({ kind: 'token', mechanism: 'OAUTHBEARER', user: 'alice', token: 'hunter2' });
  assert.notEqual(bearer, key);
  assert.notEqual(c.key({ kind: 'token', mechanism: 'XOAUTH2', user: 'alice', token: 'hunter2' }), bearer);
  // A per-process random HMAC key: another cache keys the same credentials differently.
  assert.notEqual(cache().key(plain('alice', 'hunter2')), key);
});

test('cache: ok and bad are remembered with their polarity, tempfails never', () => {
  const c = cache();
  c.set('k1', { kind: 'ok', user: 'alice' });
  c.set('k2', { kind: 'bad' });
  c.set('k3', { kind: 'tempfail', reason: 'down' });
  assert.deepEqual(c.get('k1'), { verdict: { kind: 'ok', user: 'alice' }, polarity: 'positive' });
  assert.deepEqual(c.get('k2'), { verdict: { kind: 'bad' }, polarity: 'negative' });
  assert.equal(c.get('k3'), undefined);
  assert.deepEqual(c.size(), { positive: 1, negative: 1 });
  c.set('k1', { kind: 'bad' });
  assert.deepEqual(c.get('k1')?.polarity, 'negative');
  assert.deepEqual(c.size(), { positive: 0, negative: 2 });
});

test('cache: each polarity expires on its own TTL', () => {
  const clock = fakeClock();
  const c = cache(10, 150, DAY, [], clock);
  c.set('pos', { kind: 'ok', user: 'a' });
  c.set('neg', { kind: 'bad' });
  clock.advance(250);
  assert.equal(c.get('pos'), undefined);
  assert.equal(c.get('neg')?.polarity, 'negative');

  const d = cache(10, DAY, 150, [], clock);
  d.set('pos', { kind: 'ok', user: 'a' });
  d.set('neg', { kind: 'bad' });
  clock.advance(250);
  assert.equal(d.get('pos')?.polarity, 'positive');
  assert.equal(d.get('neg'), undefined);
});

test('cache: `entries` per polarity, least recently used evicted and reported', () => {
  const evicted: Polarity[] = [];
  const c = cache(2, DAY, DAY, evicted);
  c.set('a', { kind: 'ok', user: 'a' });
  c.set('b', { kind: 'ok', user: 'b' });
  c.set('x', { kind: 'bad' });
  c.set('y', { kind: 'bad' });
  assert.ok(c.get('a')); // a is now more recent than b
  c.set('c', { kind: 'ok', user: 'c' });
  assert.deepEqual(evicted, ['positive']);
  assert.equal(c.get('b'), undefined);
  assert.ok(c.get('a') && c.get('c') && c.get('x') && c.get('y'));
  c.set('z', { kind: 'bad' });
  assert.deepEqual(evicted, ['positive', 'negative']);
});

test('cache: 0 entries caches nothing', () => {
  const c = cache(0);
  c.set('a', { kind: 'ok', user: 'a' });
  assert.equal(c.get('a'), undefined);
  assert.deepEqual(c.size(), { positive: 0, negative: 0 });
});
