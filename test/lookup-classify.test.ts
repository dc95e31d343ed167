// classify(): the one bad-vs-tempfail decision, as a table of the error shapes imapflow really produces.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TempFailure } from '../src/errors.js';
import { classify } from '../src/directory/imap/classify.js';

/** A tagged NO/BAD to LOGIN/AUTHENTICATE as imapflow's login.ts / authenticate.ts leave it. */
function refusal(status: 'NO' | 'BAD', code: string | null, text: string): Error {
  return Object.assign(new Error('Command failed'), {
    responseStatus: status,
    authenticationFailed: true,
    ...(code === null ? {} : { serverResponseCode: code }),
    response: `3 ${status} ${code === null ? '' : `[${code}] `}${text}`,
    responseText: text,
  });
}

function coded(code: string, message = 'boom', extra: object = {}): Error {
  return Object.assign(new Error(message), { code, ...extra });
}

const table: [string, unknown, 'bad' | 'tempfail'][] = [
  ['NO [AUTHENTICATIONFAILED]', refusal('NO', 'AUTHENTICATIONFAILED', 'Authentication failed.'), 'bad'],
  ['NO without a code', refusal('NO', null, 'Login failed'), 'bad'],
  ['BAD to AUTHENTICATE', refusal('BAD', null, 'Invalid SASL response'), 'bad'],
  ['NO [AUTHORIZATIONFAILED]', refusal('NO', 'AUTHORIZATIONFAILED', 'No such authz'), 'bad'],
  ['NO [EXPIRED]', refusal('NO', 'EXPIRED', 'Password expired'), 'bad'],
  ['NO [CONTACTADMIN]', refusal('NO', 'CONTACTADMIN', 'Account locked'), 'bad'],
  ['NO [UNAVAILABLE]', refusal('NO', 'UNAVAILABLE', 'Temporary authentication failure.'), 'tempfail'],
  ['NO [SERVERBUG]', refusal('NO', 'SERVERBUG', 'Internal error'), 'tempfail'],
  ['NO [LIMIT]', refusal('NO', 'LIMIT', 'Too many connections'), 'tempfail'],
  ['NO [INUSE]', refusal('NO', 'INUSE', 'Mailbox in use'), 'tempfail'],
  ['NO [PRIVACYREQUIRED]', refusal('NO', 'PRIVACYREQUIRED', 'TLS required'), 'tempfail'],
  [
    '[UNAVAILABLE] only in the text',
    Object.assign(refusal('NO', null, ''), { response: '3 NO [UNAVAILABLE] Temporary authentication failure.' }),
    'tempfail',
  ],
  ['lowercase code', refusal('NO', 'unavailable', 'try later'), 'tempfail'],
  [
    'throttled (ETHROTTLE)',
    Object.assign(refusal('BAD', null, 'Request is throttled. Suggested Backoff Time: 100 milliseconds'), { code: 'ETHROTTLE' }),
    'tempfail',
  ],
  ['untagged NO (MissingTag)', coded('MissingTag', 'Command failed', { responseStatus: 'NO' }), 'tempfail'],
  ['NO to another command (not flagged)', Object.assign(new Error('Command failed'), { responseStatus: 'NO' }), 'tempfail'],
  ['tagged BYE', coded('NoConnection', 'Connection not available', { responseStatus: 'BYE' }), 'tempfail'],
  ['connection refused', coded('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1'), 'tempfail'],
  ['connection reset', coded('ECONNRESET', 'read ECONNRESET'), 'tempfail'],
  ['connect timeout', coded('CONNECT_TIMEOUT', 'Failed to establish connection in required time'), 'tempfail'],
  ['greeting timeout', coded('GREETING_TIMEOUT', 'Failed to receive greeting'), 'tempfail'],
  ['our own timer', new TempFailure('IMAP check timed out after 300 ms'), 'tempfail'],
  ['certificate rejected', coded('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'), 'tempfail'],
  ['STARTTLS not offered', Object.assign(new Error('Server does not support STARTTLS'), { tlsFailed: true }), 'tempfail'],
  ['mechanism not offered', new TempFailure('IMAP server does not offer AUTH=XOAUTH2'), 'tempfail'],
  ['garbage from the server', coded('ParserError11', 'Unexpected char'), 'tempfail'],
  ['authenticationFailed without a status (AuthenticationFailure)', Object.assign(new Error('Login is disabled'), { authenticationFailed: true }), 'tempfail'],
  ['not an Error', 'something odd', 'tempfail'],
  ['undefined', undefined, 'tempfail'],
];

for (const [name, err, expected] of table) {
  test(`classify: ${name} → ${expected}`, () => {
    assert.equal(classify(err).kind, expected);
  });
}

test('classify: a tempfail reason names the fault without the command sent', () => {
  const result = classify(coded('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1'));
  assert.deepEqual(result, { kind: 'tempfail', reason: 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1' });
});
