// Password secrets: fixtures made by real tools, so we check against the world, not ourselves.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { dummySecretLike, hashPassword, verifySecret } from '../src/directory/memory/hash.js';

const PASSWORD = 'correct horse 🐎 battery';

// Generated once with the real tools (the test doesn't need them installed):
//   echo -n "$P" | argon2 postern-fixture-salt -id -t 2 -k 19456 -p 1 -l 32 -e   (Debian argon2)
//   openssl passwd -6 -salt posternSalt1234 "$P"
//   python3 crypt.crypt("$P", crypt.mksalt(METHOD_BLOWFISH, rounds=1024))          (libxcrypt)
//   python3 crypt.crypt("$P", crypt.mksalt(METHOD_SHA512, rounds=10000))
const FIXTURES = {
  argon2id: '$argon2id$v=19$m=19456,t=2,p=1$cG9zdGVybi1maXh0dXJlLXNhbHQ$DyUTa8axylla152GBmjKABx53HDHHX0u5v8hLZfcYsQ',
  bcrypt: '$2b$10$CA4vf/hcmiScibXEXXdz/ugVENFzz.dPOP6FxXfxnIzG7D62wC4OS',
  'sha512-crypt': '$6$posternSalt1234$qHCOCJGesohomBn7CpI3GPKlpysaoey1ZG7S2LuG1QUOOnAGxbPyUxsTorm6kpM75vH8dGowvi5vIwTqKdg0V1',
  'sha512-crypt with rounds':
    '$6$rounds=10000$RilNqGHd4YH6MgmK$0pGh1cVzB.Q0WFjhABqdFNtuzoV7HYlAN0GME.x4DwqZPpuZnWeosgM9M0gfKPKCPQL0Uua2EkN3x4I4wpqtI1',
};

describe('verifySecret', () => {
  for (const [scheme, secret] of Object.entries(FIXTURES)) {
    test(`${scheme}: the right password matches, a wrong or near one does not`, async () => {
      assert.equal(await verifySecret(secret, PASSWORD), true);
      assert.equal(await verifySecret(secret, 'correct horse 🐎 batter'), false);
      assert.equal(await verifySecret(secret, `${PASSWORD} `), false);
      assert.equal(await verifySecret(secret, ''), false);
    });
  }

  test('argon2i from the reference implementation README verifies too', async () => {
    const secret = '$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG';
    assert.equal(await verifySecret(secret, 'password'), true);
    assert.equal(await verifySecret(secret, 'Password'), false);
  });

  test('bcrypt reads the first 72 bytes, like libxcrypt (not an error for longer passwords)', async () => {
    const long = '0123456789'.repeat(8); // libxcrypt: $2b$04$, 80 bytes
    const secret = '$2b$04$NRh06eles.GYmxP1ruP1kuqhiw1yRIlaxJzCzUWn4YjwaoTOy1aNG';
    assert.equal(await verifySecret(secret, long), true);
    assert.equal(await verifySecret(secret, long.slice(0, 72)), true);
    assert.equal(await verifySecret(secret, long.slice(0, 71)), false);
  });

  test('a secret in no known scheme is plaintext, compared exactly', async () => {
    assert.equal(await verifySecret('plain secret', 'plain secret'), true);
    assert.equal(await verifySecret('plain secret', 'plain secreT'), false);
    assert.equal(await verifySecret('plain secret', 'plain secret and more'), false);
  });

  test('an unparseable hash is a fault (rejects), not a wrong password', async () => {
    await assert.rejects(verifySecret('$argon2id$v=19$m=19456,t=2,p=1$broken', PASSWORD));
    await assert.rejects(verifySecret('$2b$10$short', PASSWORD));
  });
});

describe('hashPassword', () => {
  for (const scheme of ['argon2id', 'bcrypt', 'sha512-crypt'] as const) {
    test(`${scheme} round-trips and salts every hash`, async () => {
      const a = await hashPassword(PASSWORD, scheme);
      const b = await hashPassword(PASSWORD, scheme);
      assert.notEqual(a, b);
      assert.equal(await verifySecret(a, PASSWORD), true);
      assert.equal(await verifySecret(a, 'wrong'), false);
    });
  }

  test('the default is argon2id, m=19456 KiB, t=2, p=1, 16-byte salt, as a PHC string', async () => {
    const hash = await hashPassword(PASSWORD);
    const match = /^\$argon2id\$v=19\$m=19456,t=2,p=1\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(hash);
    assert.ok(match, hash);
    assert.equal(Buffer.from(match[1] ?? '', 'base64').length, 16);
  });

  test('bcrypt and sha512-crypt use the labels current tools write', async () => {
    assert.match(await hashPassword(PASSWORD, 'bcrypt'), /^\$2b\$10\$[./A-Za-z0-9]{53}$/);
    assert.match(await hashPassword(PASSWORD, 'sha512-crypt'), /^\$6\$[./A-Za-z0-9]{16}\$[./A-Za-z0-9]{86}$/);
  });
});

describe('dummySecretLike', () => {
  test('copies the most common scheme and cost, and matches no password', async () => {
    const dummy = dummySecretLike([FIXTURES.bcrypt, FIXTURES.argon2id, FIXTURES.argon2id, 'plaintext']);
    assert.match(dummy, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.notEqual(dummy, dummySecretLike([FIXTURES.argon2id]));
    assert.equal(await verifySecret(dummy, PASSWORD), false);
    for (const template of [FIXTURES.bcrypt, FIXTURES['sha512-crypt'], FIXTURES['sha512-crypt with rounds'], 'plain']) {
      const other = dummySecretLike([template]);
      assert.equal(await verifySecret(other, PASSWORD), false);
    }
    assert.match(dummySecretLike([FIXTURES['sha512-crypt with rounds']]), /^\$6\$rounds=10000\$/);
    assert.match(dummySecretLike([FIXTURES.bcrypt]), /^\$2b\$10\$/);
  });
});
