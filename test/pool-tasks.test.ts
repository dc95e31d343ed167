// The worker pool, with real Piscina workers running workers/tasks.ts (tsx loads in the workers).
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { AuthRules, SessionVars } from '../src/config/types.js';
import { TempFailure } from '../src/errors.js';
import { EventBus, type PosternEvent } from '../src/events.js';
import { WorkerPool } from '../src/pool/pool.js';

type PoolTask = Extract<PosternEvent, { type: 'pool.task' }>;
type PoolRefused = Extract<PosternEvent, { type: 'pool.refused' }>;

// Compiled rules as the config loader hands them over (plain data).
const RULES: AuthRules = {
  mechanisms: {
    branches: [{ when: { kind: 'eq', variable: 'listener', negate: false, value: 'submissions' }, then: ['PLAIN', 'LOGIN', 'XOAUTH2'] }],
    otherwise: ['PLAIN', 'LOGIN'],
  },
  lookup: { branches: [], otherwise: 'directory/local' },
  require: { branches: [], otherwise: true },
  errorsTotal: { branches: [], otherwise: 3 },
  errorsWait: { branches: [], otherwise: 5000 },
};

const vars = (listener: string): SessionVars => ({ listener, 'remote-ip': '127.0.0.1', 'local-ip': '127.0.0.1', 'helo-domain': '' });

// argon2id (m=19456, t=2) of "pw": slow enough (tens of ms) to keep a worker busy.
const ARGON2_PW = '$argon2id$v=19$m=19456,t=2,p=1$cG9zdGVybi1maXh0dXJlLXNhbHQ$OIGmLOmdsORr5T5PU9U3KkdbSidu+yWHnqKTYf4Wr9I';

function poolWithEvents(threads: number, maxQueue: number) {
  const events = new EventBus();
  const seen: PoolTask[] = [];
  const refused: PoolRefused[] = [];
  events.on((event) => {
    if (event.type === 'pool.task') seen.push(event);
    if (event.type === 'pool.refused') refused.push(event);
  });
  const pool = new WorkerPool({ threads, maxQueue, rules: RULES, events });
  after(() => pool.close());
  return { pool, seen, refused };
}

describe('WorkerPool', () => {
  test('every task runs on a worker thread, and its pool.task event says which', async () => {
    const { pool, seen } = poolWithEvents(2, 16);
    assert.deepEqual(await pool.resolveSession(vars('submission')), {
      mechanisms: ['PLAIN', 'LOGIN'],
      lookup: 'directory/local',
      require: true,
      errorsTotal: 3,
      errorsWait: 5000,
    });
    assert.deepEqual(await pool.mechanisms(vars('submissions')), ['PLAIN', 'LOGIN', 'XOAUTH2']);
    assert.deepEqual(await pool.decodeSasl('LOGIN', ['']), { kind: 'challenge', challenge: 'VXNlcm5hbWU6' });
    assert.deepEqual(await pool.decodeSasl('PLAIN', [Buffer.from('\0alice\0pw').toString('base64')]), {
      kind: 'credentials',
      credentials: { kind: 'password', mechanism: 'PLAIN', user: 'alice', password: 'pw' },
    });
    assert.equal(await pool.verifySecret(ARGON2_PW, 'pw'), true);
    assert.equal(await pool.verifySecret(ARGON2_PW, 'nope'), false);

    assert.deepEqual(
      seen.map((e) => e.kind),
      ['rules', 'rules', 'sasl', 'sasl', 'hash', 'hash'],
    );
    for (const event of seen) {
      assert.ok(event.threadId > 0, `threadId ${event.threadId} is not a worker`);
      assert.equal(event.ok, true);
      assert.ok(event.seconds >= 0);
    }
  });

  test('stats count the tasks that ran and their summed run time', async () => {
    const { pool, seen } = poolWithEvents(2, 16);
    await Promise.all([pool.verifySecret(ARGON2_PW, 'pw'), pool.decodeSasl('PLAIN', ['']), pool.verifySecret(ARGON2_PW, 'x')]);
    const stats = pool.stats();
    assert.equal(stats.threads, 2);
    assert.equal(stats.maxQueue, 16);
    assert.equal(stats.queueSize, 0);
    assert.equal(stats.completed, 3);
    const busy = seen.reduce((sum, e) => sum + e.seconds, 0);
    assert.ok(Math.abs(stats.busySeconds - busy) < 1e-9, `${stats.busySeconds} vs ${busy}`);
    assert.ok(stats.busySeconds > 0);
  });

  test('a full queue rejects with TempFailure, the queued tasks still complete', async () => {
    const { pool, seen, refused } = poolWithEvents(1, 1);
    // All submitted in one tick: at most one running and one queued, the rest overflow.
    const settled = await Promise.allSettled(Array.from({ length: 6 }, () => pool.verifySecret(ARGON2_PW, 'pw')));
    const rejected = settled.filter((s) => s.status === 'rejected');
    const fulfilled = settled.filter((s) => s.status === 'fulfilled');
    assert.ok(rejected.length >= 4, `${rejected.length} rejected`);
    assert.ok(fulfilled.length >= 1);
    for (const r of rejected) {
      assert.ok(r.reason instanceof TempFailure);
      assert.match(r.reason.message, /queue full/);
    }
    for (const f of fulfilled) assert.equal(f.value, true);
    assert.equal(refused.filter((e) => e.reason === 'queue_full').length, rejected.length);
    assert.equal(seen.length, fulfilled.length, 'a refused task is not reported as one that ran');
    assert.equal(pool.stats().completed, fulfilled.length);
  });

  test('a task that fails inside the worker is a TempFailure, reported with its thread', async () => {
    const { pool, seen } = poolWithEvents(1, 4);
    await assert.rejects(pool.verifySecret('$argon2id$v=19$m=19456,t=2,p=1$broken', 'pw'), TempFailure);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.ok, false);
    assert.ok((seen[0]?.threadId ?? 0) > 0);
    // The worker survives its task's failure.
    assert.equal(await pool.verifySecret('plain', 'plain'), true);
  });

  test('after close, calls reject with TempFailure', async () => {
    const { pool } = poolWithEvents(1, 4);
    await pool.close();
    await assert.rejects(pool.decodeSasl('PLAIN', ['']), TempFailure);
    await pool.close(); // idempotent
  });
});
