// The SASL decoders, as the session drives them: every client line so far in, one step out.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeSasl } from '../src/sasl/index.js';
import { oauthbearerErrorChallenge } from '../src/sasl/oauthbearer.js';
import type { Mechanism, SaslStep } from '../src/sasl/types.js';

const b64 = (text: string | Uint8Array) => Buffer.from(text).toString('base64');
const NO_INITIAL_RESPONSE = '';

function credentials(step: SaslStep) {
  assert.equal(step.kind, 'credentials', JSON.stringify(step));
  return step.kind === 'credentials' ? step.credentials : assert.fail();
}

function assertMalformed(mechanism: Mechanism, lines: string[], ...secrets: string[]) {
  const step = decodeSasl(mechanism, lines);
  assert.equal(step.kind, 'malformed', JSON.stringify(step));
  // The reason goes to logs: it must never repeat what the client sent.
  for (const secret of secrets) if (step.kind === 'malformed') assert.ok(!step.reason.includes(secret), step.reason);
}

describe('PLAIN', () => {
  test('initial response gives the credentials at once', () => {
    assert.deepEqual(credentials(decodeSasl('PLAIN', [b64('\0alice\0s3cret')])), {
      kind: 'password',
      mechanism: 'PLAIN',
      user: 'alice',
      password: 's3cret',
    });
  });

  test('without an initial response the server sends an empty challenge, then decodes the answer', () => {
    assert.deepEqual(decodeSasl('PLAIN', [NO_INITIAL_RESPONSE]), { kind: 'challenge', challenge: '' });
    assert.equal(credentials(decodeSasl('PLAIN', [NO_INITIAL_RESPONSE, b64('\0alice\0s3cret')])).user, 'alice');
  });

  test('"*" cancels as the initial response and as the answer to the challenge', () => {
    assert.deepEqual(decodeSasl('PLAIN', ['*']), { kind: 'cancelled' });
    assert.deepEqual(decodeSasl('PLAIN', [NO_INITIAL_RESPONSE, '*']), { kind: 'cancelled' });
  });

  test('"=" is an explicitly empty initial response: an empty PLAIN message is malformed', () => {
    assertMalformed('PLAIN', ['=']);
  });

  test('invalid base64 is malformed: bad characters, bad padding, non-canonical bits', () => {
    const good = b64('\0alice\0s3cret');
    for (const line of [`${good}!`, good.slice(0, -1), ` ${good}`, `${good}==`, 'YR==', 'YWJj=', 'Y===', '====', '=']) {
      const lines = line === '=' ? [NO_INITIAL_RESPONSE, line] : [line];
      assertMalformed('PLAIN', lines);
    }
  });

  test('anything but exactly two NULs is malformed', () => {
    assertMalformed('PLAIN', [b64('alice\0s3cret')], 's3cret');
    assertMalformed('PLAIN', [b64('\0alice\0s3cret\0')], 's3cret');
    assertMalformed('PLAIN', [b64('alice s3cret')], 's3cret');
  });

  test('authzid: empty or equal to the authcid is accepted, anything else is malformed', () => {
    assert.equal(credentials(decodeSasl('PLAIN', [b64('\0alice\0pw')])).user, 'alice');
    assert.equal(credentials(decodeSasl('PLAIN', [b64('alice\0alice\0pw')])).user, 'alice');
    assertMalformed('PLAIN', [b64('bob\0alice\0pw')], 'bob', 'alice');
  });

  test('empty authcid or empty password is malformed', () => {
    assertMalformed('PLAIN', [b64('\0\0pw')]);
    assertMalformed('PLAIN', [b64('\0alice\0')], 'alice');
  });

  test('passwords keep spaces and any UTF-8, byte for byte', () => {
    for (const password of ['correct horse battery staple', ' lead and trail ', 'pässwörd 🔑 日本語', '\ufeffbom-first']) {
      const c = credentials(decodeSasl('PLAIN', [b64(`\0jürgen@example.org\0${password}`)]));
      assert.equal(c.kind === 'password' && c.password, password);
      assert.equal(c.user, 'jürgen@example.org');
    }
  });

  test('invalid UTF-8 is malformed', () => {
    const bytes = Buffer.concat([Buffer.from('\0alice\0'), Buffer.from([0xc3, 0x28, 0xff])]);
    assertMalformed('PLAIN', [b64(bytes)], 'alice');
  });
});

describe('LOGIN', () => {
  const USERNAME = 'VXNlcm5hbWU6';
  const PASSWORD = 'UGFzc3dvcmQ6';

  test('without an initial response: Username:, then Password:, then credentials', () => {
    assert.deepEqual(decodeSasl('LOGIN', [NO_INITIAL_RESPONSE]), { kind: 'challenge', challenge: USERNAME });
    assert.deepEqual(decodeSasl('LOGIN', [NO_INITIAL_RESPONSE, b64('alice')]), { kind: 'challenge', challenge: PASSWORD });
    assert.deepEqual(credentials(decodeSasl('LOGIN', [NO_INITIAL_RESPONSE, b64('alice'), b64('my pass wörd')])), {
      kind: 'password',
      mechanism: 'LOGIN',
      user: 'alice',
      password: 'my pass wörd',
    });
  });

  test('an initial response is the username', () => {
    assert.deepEqual(decodeSasl('LOGIN', [b64('alice')]), { kind: 'challenge', challenge: PASSWORD });
    assert.equal(credentials(decodeSasl('LOGIN', [b64('alice'), b64('pw')])).user, 'alice');
  });

  test('"*" cancels at every step', () => {
    assert.deepEqual(decodeSasl('LOGIN', ['*']), { kind: 'cancelled' });
    assert.deepEqual(decodeSasl('LOGIN', [NO_INITIAL_RESPONSE, '*']), { kind: 'cancelled' });
    assert.deepEqual(decodeSasl('LOGIN', [NO_INITIAL_RESPONSE, b64('alice'), '*']), { kind: 'cancelled' });
    assert.deepEqual(decodeSasl('LOGIN', [b64('alice'), '*']), { kind: 'cancelled' });
  });

  test('"=" is an empty username; empty answers and bad base64 are malformed', () => {
    assertMalformed('LOGIN', ['=']);
    assertMalformed('LOGIN', [NO_INITIAL_RESPONSE, '']);
    assertMalformed('LOGIN', [NO_INITIAL_RESPONSE, b64('alice'), '']);
    assertMalformed('LOGIN', [NO_INITIAL_RESPONSE, 'not base64!']);
    assertMalformed('LOGIN', [NO_INITIAL_RESPONSE, b64('alice'), `${b64('pw')}x`]);
    assertMalformed('LOGIN', [NO_INITIAL_RESPONSE, b64(Buffer.from([0xfe, 0xff]))]);
  });
});

describe('OAUTHBEARER', () => {
  const TOKEN = 'vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==';
  // RFC 7628 §4.1's example, host and port included.
  const FULL = `n,a=user@example.com,\x01host=server.example.com\x01port=587\x01auth=Bearer ${TOKEN}\x01\x01`;

  test('initial response with host and port fields', () => {
    assert.deepEqual(credentials(decodeSasl('OAUTHBEARER', [b64(FULL)])), {
      kind: 'token',
      mechanism: 'OAUTHBEARER',
      user: 'user@example.com',
      token: TOKEN,
    });
  });

  test('without host and port, and with y, and the n,, header variants', () => {
    for (const gs2 of ['n,a=user@example.com,', 'y,a=user@example.com,']) {
      const c = credentials(decodeSasl('OAUTHBEARER', [b64(`${gs2}\x01auth=Bearer ${TOKEN}\x01\x01`)]));
      assert.equal(c.kind === 'token' && c.token, TOKEN);
      assert.equal(c.user, 'user@example.com');
    }
    // `n,,` is valid gs2 but names nobody: there is no user to check the token for.
    assertMalformed('OAUTHBEARER', [b64(`n,,\x01auth=Bearer ${TOKEN}\x01\x01`)], TOKEN);
  });

  test('an escaped authzid is unescaped (RFC 5801 saslname)', () => {
    const c = credentials(decodeSasl('OAUTHBEARER', [b64(`n,a=odd=2Cname=3Dx,\x01auth=Bearer ${TOKEN}\x01\x01`)]));
    assert.equal(c.user, 'odd,name=x');
    assertMalformed('OAUTHBEARER', [b64(`n,a=bad=name,\x01auth=Bearer ${TOKEN}\x01\x01`)], TOKEN);
  });

  test('without an initial response: empty challenge, then the message', () => {
    assert.deepEqual(decodeSasl('OAUTHBEARER', [NO_INITIAL_RESPONSE]), { kind: 'challenge', challenge: '' });
    assert.equal(credentials(decodeSasl('OAUTHBEARER', [NO_INITIAL_RESPONSE, b64(FULL)])).user, 'user@example.com');
    assert.deepEqual(decodeSasl('OAUTHBEARER', [NO_INITIAL_RESPONSE, '*']), { kind: 'cancelled' });
  });

  test('missing auth, a non-Bearer scheme, channel binding or a missing terminator is malformed', () => {
    assertMalformed('OAUTHBEARER', [b64('n,a=user@example.com,\x01host=server.example.com\x01port=587\x01\x01')]);
    assertMalformed('OAUTHBEARER', [b64('n,a=user@example.com,\x01auth=Basic dXNlcjpwYXNz\x01\x01')], 'dXNlcjpwYXNz');
    assertMalformed('OAUTHBEARER', [b64(`p=tls-unique,a=user@example.com,\x01auth=Bearer ${TOKEN}\x01\x01`)], TOKEN);
    assertMalformed('OAUTHBEARER', [b64(`n,a=user@example.com,\x01auth=Bearer ${TOKEN}\x01`)], TOKEN);
    assertMalformed('OAUTHBEARER', [b64(`n,a=user@example.com,auth=Bearer ${TOKEN}\x01\x01`)], TOKEN);
    assertMalformed('OAUTHBEARER', ['=']);
  });

  test('the error challenge is base64 RFC 7628 status JSON', () => {
    const json = JSON.parse(Buffer.from(oauthbearerErrorChallenge(), 'base64').toString('utf8')) as { status: string };
    assert.equal(json.status, 'invalid_token');
  });
});

describe('XOAUTH2', () => {
  const TOKEN = 'ya29.vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg';
  const MESSAGE = `user=someuser@example.com\x01auth=Bearer ${TOKEN}\x01\x01`;

  test('initial response: the bare token, never "Bearer …" (Stalwart forwarded "Bearer Bearer …")', () => {
    assert.deepEqual(credentials(decodeSasl('XOAUTH2', [b64(MESSAGE)])), {
      kind: 'token',
      mechanism: 'XOAUTH2',
      user: 'someuser@example.com',
      token: TOKEN,
    });
  });

  test('without an initial response: empty challenge, then the message; "*" cancels', () => {
    assert.deepEqual(decodeSasl('XOAUTH2', [NO_INITIAL_RESPONSE]), { kind: 'challenge', challenge: '' });
    assert.equal(credentials(decodeSasl('XOAUTH2', [NO_INITIAL_RESPONSE, b64(MESSAGE)])).user, 'someuser@example.com');
    assert.deepEqual(decodeSasl('XOAUTH2', ['*']), { kind: 'cancelled' });
    assert.deepEqual(decodeSasl('XOAUTH2', [NO_INITIAL_RESPONSE, '*']), { kind: 'cancelled' });
  });

  test('missing user, missing auth or a missing terminator is malformed', () => {
    assertMalformed('XOAUTH2', [b64(`auth=Bearer ${TOKEN}\x01\x01`)], TOKEN);
    assertMalformed('XOAUTH2', [b64('user=someuser@example.com\x01\x01')], 'someuser');
    assertMalformed('XOAUTH2', [b64(`user=someuser@example.com\x01auth=Bearer ${TOKEN}`)], TOKEN, 'someuser');
    assertMalformed('XOAUTH2', [b64(`user=someuser@example.com\x01auth=${TOKEN}\x01\x01`)], TOKEN);
    assertMalformed('XOAUTH2', ['%%%%']);
  });
});
