// The memory directory, checking passwords through a real worker pool.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MemoryDirectory } from '../src/directory/memory/directory.js';
import { hashPassword } from '../src/directory/memory/hash.js';
import type { AuthRules, DirectoryConfig } from '../src/config/types.js';
import { EventBus, type PosternEvent } from '../src/events.js';
import { WorkerPool } from '../src/pool/pool.js';
import type { Credentials } from '../src/sasl/types.js';

const rule = <T>(value: T) => ({ branches: [], otherwise: value });
const RULES: AuthRules = {
  mechanisms: rule(['PLAIN', 'LOGIN']),
  lookup: rule('directory/local'),
  require: rule(false),
  errorsTotal: rule(3),
  errorsWait: rule(1),
};

const plain = (user: string, password: string): Credentials => ({ kind: 'password', mechanism: 'PLAIN', user, password });

describe('MemoryDirectory', () => {
  const events = new EventBus();
  const hashTasks: PosternEvent[] = [];
  events.on((e) => {
    if (e.type === 'pool.task' && e.kind === 'hash') hashTasks.push(e);
  });
  const pool = new WorkerPool({ threads: 1, maxQueue: 8, rules: RULES, events });
  let directory: MemoryDirectory;

  before(async () => {
    const config: DirectoryConfig = {
      id: 'local',
      type: 'memory',
      users: [
        { name: 'alice', secret: await hashPassword('alice secret ✓'), email: ['alice@example.org', 'postmaster@example.org'] },
        // openssl passwd -6 -salt posternSalt1234 'correct horse 🐎 battery'
        {
          name: 'bob',
          secret: '$6$posternSalt1234$qHCOCJGesohomBn7CpI3GPKlpysaoey1ZG7S2LuG1QUOOnAGxbPyUxsTorm6kpM75vH8dGowvi5vIwTqKdg0V1',
          email: ['Bob@Example.org'],
        },
        { name: 'carol', secret: 'plain-text-pw', email: [] },
      ],
    };
    directory = new MemoryDirectory(config, pool);
  });
  after(async () => {
    await directory.close();
    await pool.close();
  });

  test('the right password is ok, with the user name', async () => {
    assert.deepEqual(await directory.verify(plain('alice', 'alice secret ✓')), { kind: 'ok', user: 'alice' });
    assert.deepEqual(await directory.verify(plain('bob', 'correct horse 🐎 battery')), { kind: 'ok', user: 'bob' });
    assert.deepEqual(await directory.verify(plain('carol', 'plain-text-pw')), { kind: 'ok', user: 'carol' });
  });

  test('a wrong password is bad', async () => {
    assert.deepEqual(await directory.verify(plain('alice', 'alice secret')), { kind: 'bad' });
    assert.deepEqual(await directory.verify({ kind: 'password', mechanism: 'LOGIN', user: 'bob', password: 'nope' }), { kind: 'bad' });
    assert.deepEqual(await directory.verify(plain('carol', 'plain-text-pW')), { kind: 'bad' });
  });

  test('any email address logs in, case-insensitively; the verdict names the user', async () => {
    assert.deepEqual(await directory.verify(plain('postmaster@example.org', 'alice secret ✓')), { kind: 'ok', user: 'alice' });
    assert.deepEqual(await directory.verify(plain('ALICE@example.ORG', 'alice secret ✓')), { kind: 'ok', user: 'alice' });
    assert.deepEqual(await directory.verify(plain('bob@example.org', 'correct horse 🐎 battery')), { kind: 'ok', user: 'bob' });
    assert.deepEqual(await directory.verify(plain('postmaster@example.org', 'correct horse 🐎 battery')), { kind: 'bad' });
  });

  test('an unknown user is bad, after a hash check as for a known one', async () => {
    const before = hashTasks.length;
    assert.deepEqual(await directory.verify(plain('mallory', 'alice secret ✓')), { kind: 'bad' });
    assert.deepEqual(await directory.verify(plain('nobody@example.org', 'plain-text-pw')), { kind: 'bad' });
    assert.equal(hashTasks.length - before, 2);
  });

  test('tokens are bad: the memory directory holds passwords only', async () => {
    const before = hashTasks.length;
    for (const mechanism of ['OAUTHBEARER', 'XOAUTH2'] as const) {
      assert.deepEqual(await directory.verify({ kind: 'token', mechanism, user: 'alice', token: 'alice secret ✓' }), { kind: 'bad' });
    }
    assert.equal(hashTasks.length, before);
  });

  test('a pool that cannot run the check is a temporary failure, not a wrong password', async () => {
    const closed = new WorkerPool({ threads: 1, maxQueue: 1, rules: RULES, events: new EventBus() });
    await closed.close();
    const broken = new MemoryDirectory({ id: 'x', type: 'memory', users: [{ name: 'alice', secret: 'pw', email: [] }] }, closed);
    const verdict = await broken.verify(plain('alice', 'pw'));
    assert.equal(verdict.kind, 'tempfail');
  });

  test('a stored hash that cannot be parsed is a temporary failure (a config fault), not a wrong password', async () => {
    const broken = new MemoryDirectory({ id: 'x', type: 'memory', users: [{ name: 'dave', secret: '$2b$10$short', email: [] }] }, pool);
    const verdict = await broken.verify(plain('dave', 'pw'));
    assert.equal(verdict.kind, 'tempfail');
    assert.ok(verdict.kind === 'tempfail' && !verdict.reason.includes('pw'));
  });
});
