// The AUTH stage's reply table, row by row, over real sockets against a real server.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ALICE, memoryDirectory } from './helpers/fixtures.js';
import { b64, plain, secured, SmtpClient } from './helpers/smtp.js';
import { basics, scratch, startPostern, type TestPostern } from './helpers/postern.js';

const USERS = memoryDirectory([
  { ...ALICE, email: ['alice@example.org'] },
  { name: 'bob', secret: 'pass word with spaces' },
  { name: 'jürgen', secret: 'pässwörd-ü-€' },
]);

const AUTH = `
[session.auth]
mechanisms = [ { if = "listener", ne = "smtp", then = ["plain", "login", "oauthbearer", "xoauth2"] },
               { else = [] } ]
lookup = [ { if = "listener", ne = "smtp", then = "directory/local" },
           { else = false } ]
require = [ { if = "listener", ne = "smtp", then = true },
            { else = false } ]
[session.auth.errors]
total = 3
wait = "1ms"
`;

let server: TestPostern;

before(async () => {
  const { dir, cert } = await scratch();
  server = await startPostern(basics(dir, cert) + AUTH + USERS);
});
after(() => server.close());

describe('greeting and EHLO', () => {
  test('greeting is "220 <hostname> <greeting>"', async () => {
    const c = await SmtpClient.connect(server.port('submission'));
    assert.equal(c.greeting.last, '220 mx.test Postern test');
    c.close();
  });

  test('plaintext EHLO offers no PLAIN/LOGIN; after STARTTLS all mechanisms; after AUTH no AUTH line', async () => {
    const c = await SmtpClient.connect(server.port('submission'));
    const clear = await c.ehlo();
    assert.deepEqual(SmtpClient.mechanisms(clear), ['OAUTHBEARER', 'XOAUTH2']);
    assert.ok(clear.lines.includes('STARTTLS'));
    assert.ok(clear.lines.includes('ENHANCEDSTATUSCODES'));
    await c.starttls();
    const tls = await c.ehlo();
    assert.deepEqual(SmtpClient.mechanisms(tls), ['PLAIN', 'LOGIN', 'OAUTHBEARER', 'XOAUTH2']);
    assert.ok(!tls.lines.includes('STARTTLS'));
    assert.equal((await c.send(`AUTH PLAIN ${plain('alice', 'alice-secret')}`)).last, '235 2.7.0 Authentication succeeded.');
    const authed = await c.ehlo();
    assert.deepEqual(SmtpClient.mechanisms(authed), []);
    c.close();
  });

  test('the smtp listener (mechanisms empty) offers no AUTH and answers AUTH with 503', async () => {
    const c = await SmtpClient.connect(server.port('smtp'));
    assert.deepEqual(SmtpClient.mechanisms(await c.ehlo()), []);
    assert.equal((await c.send(`AUTH PLAIN ${plain('alice', 'alice-secret')}`)).last, '503 5.5.1 AUTH not allowed.');
    c.close();
  });
});

describe('AUTH replies', () => {
  test('success, then AUTH again is 503 Already authenticated', async () => {
    const c = await secured(server);
    assert.equal((await c.send(`AUTH PLAIN ${plain('alice', 'alice-secret')}`)).last, '235 2.7.0 Authentication succeeded.');
    assert.equal((await c.send(`AUTH PLAIN ${plain('alice', 'alice-secret')}`)).last, '503 5.5.1 Already authenticated.');
    c.close();
  });

  test('PLAIN and LOGIN on plaintext are 538', async () => {
    const c = await SmtpClient.connect(server.port('submission'));
    await c.ehlo();
    const expected = '538 5.7.11 Encryption required for requested authentication mechanism';
    assert.equal((await c.send(`AUTH PLAIN ${plain('alice', 'alice-secret')}`)).last, expected);
    assert.equal((await c.send('AUTH LOGIN')).last, expected);
    c.close();
  });

  test('no mechanism name is 501; unknown mechanism is 504', async () => {
    const c = await secured(server);
    assert.equal((await c.send('AUTH')).last, '501 5.5.2 Syntax error, expected: AUTH mechanism [initial-response]');
    assert.equal((await c.send('AUTH CRAM-MD5')).last, '504 5.5.4 Mechanism not supported');
    assert.equal((await c.send('AUTH GSSAPI')).last, '504 5.5.4 Mechanism not supported');
    // none of those counted: a right password still works
    assert.equal((await c.send(`AUTH PLAIN ${plain('alice', 'alice-secret')}`)).code, 235);
    c.close();
  });

  test('PLAIN without initial response: "334 " then the credentials', async () => {
    const c = await secured(server);
    const challenge = await c.send('AUTH PLAIN');
    assert.equal(challenge.last, '334 ');
    assert.equal((await c.send(plain('alice', 'alice-secret'))).code, 235);
    c.close();
  });

  test('LOGIN asks Username: then Password:, with and without initial response', async () => {
    const c = await secured(server);
    assert.equal((await c.send('AUTH LOGIN')).last, '334 VXNlcm5hbWU6');
    assert.equal((await c.send(b64('alice'))).last, '334 UGFzc3dvcmQ6');
    assert.equal((await c.send(b64('alice-secret'))).code, 235);
    c.close();
    const d = await secured(server);
    assert.equal((await d.send(`AUTH LOGIN ${b64('alice')}`)).last, '334 UGFzc3dvcmQ6');
    assert.equal((await d.send(b64('wrong'))).last, '535 5.7.8 Authentication credentials invalid.');
    d.close();
  });

  test('wrong password and unknown user are both 535', async () => {
    const c = await secured(server);
    assert.equal((await c.send(`AUTH PLAIN ${plain('alice', 'nope')}`)).last, '535 5.7.8 Authentication credentials invalid.');
    assert.equal((await c.send(`AUTH PLAIN ${plain('mallory', 'nope')}`)).last, '535 5.7.8 Authentication credentials invalid.');
    c.close();
  });

  test('"*" cancels: 501 5.7.0 Authentication cancelled', async () => {
    const c = await secured(server);
    await c.send('AUTH LOGIN');
    assert.equal((await c.send('*')).last, '501 5.7.0 Authentication cancelled');
    c.close();
  });

  test('bad base64 and malformed PLAIN are 501 5.5.2 Invalid SASL message', async () => {
    const c = await secured(server);
    assert.equal((await c.send('AUTH PLAIN %%%not-base64%%%')).last, '501 5.5.2 Invalid SASL message');
    assert.equal((await c.send(`AUTH PLAIN ${b64('no-nul-separators')}`)).last, '501 5.5.2 Invalid SASL message');
    c.close();
  });

  test('a SASL line over 12 KiB is 500 5.5.6', async () => {
    const c = await secured(server);
    await c.send('AUTH PLAIN');
    assert.equal((await c.send('A'.repeat(12 * 1024 + 4))).last, '500 5.5.6 Authentication Exchange line is too long.');
    c.close();
  });

  test('authzid: another identity is refused (501), one equal to the authcid accepted', async () => {
    const c = await secured(server);
    assert.equal((await c.send(`AUTH PLAIN ${plain('alice', 'alice-secret', 'bob')}`)).last, '501 5.5.2 Invalid SASL message');
    assert.equal((await c.send(`AUTH PLAIN ${plain('alice', 'alice-secret', 'alice')}`)).code, 235);
    c.close();
  });

  test('a password with spaces by PLAIN; a UTF-8 user name and password by LOGIN', async () => {
    const c = await secured(server);
    assert.equal((await c.send(`AUTH PLAIN ${plain('bob', 'pass word with spaces')}`)).code, 235);
    c.close();
    const d = await secured(server);
    await d.send(`AUTH LOGIN ${b64('jürgen')}`);
    assert.equal((await d.send(b64('pässwörd-ü-€'))).code, 235);
    d.close();
  });

  test('login by e-mail address', async () => {
    const c = await secured(server);
    assert.equal((await c.send(`AUTH PLAIN ${plain('alice@example.org', 'alice-secret')}`)).code, 235);
    c.close();
  });

  test('OAUTHBEARER rejected: 334 error status, client answers ^A, then 535', async () => {
    const c = await secured(server);
    const token = b64('n,a=alice,\x01auth=Bearer some-token\x01\x01');
    const status = await c.send(`AUTH OAUTHBEARER ${token}`);
    assert.equal(status.code, 334);
    const json = JSON.parse(Buffer.from(status.lines[0] ?? '', 'base64').toString('utf8')) as { status: string };
    assert.equal(json.status, 'invalid_token');
    assert.equal((await c.send('AQ==')).last, '535 5.7.8 Authentication credentials invalid.');
    c.close();
  });

  test('OAUTHBEARER and XOAUTH2 without initial response: "334 " then the client message', async () => {
    const c = await secured(server);
    assert.equal((await c.send('AUTH OAUTHBEARER')).last, '334 ');
    assert.equal((await c.send(b64('n,a=alice,\x01auth=Bearer tok\x01\x01'))).code, 334);
    assert.equal((await c.send('AQ==')).code, 535);
    assert.equal((await c.send('AUTH XOAUTH2')).last, '334 ');
    assert.equal((await c.send(b64('user=alice\x01auth=Bearer tok\x01\x01'))).code, 535);
    c.close();
  });

  test('XOAUTH2 on plaintext against a directory (no tokens there) is 535', async () => {
    const c = await SmtpClient.connect(server.port('submission'));
    await c.ehlo();
    const token = b64('user=alice\x01auth=Bearer some-token\x01\x01');
    assert.equal((await c.send(`AUTH XOAUTH2 ${token}`)).last, '535 5.7.8 Authentication credentials invalid.');
    c.close();
  });
});

describe('errors.total and require', () => {
  test('the third counted failure gets its reply, then 421, then the connection closes', async () => {
    const c = await secured(server);
    assert.equal((await c.send(`AUTH PLAIN ${plain('alice', 'x')}`)).code, 535);
    assert.equal((await c.send('AUTH PLAIN %')).code, 501);
    assert.equal((await c.send(`AUTH PLAIN ${plain('alice', 'y')}`)).code, 535);
    assert.equal((await c.read()).last, '421 4.3.0 Too many authentication errors, disconnecting.');
    await c.closedPromise;
    assert.ok(server.seen.some((e) => e.type === 'auth.too_many_errors'));
  });

  test('the counter survives STARTTLS', async () => {
    const c = await SmtpClient.connect(server.port('submission'));
    await c.ehlo();
    // XOAUTH2 is offered on plaintext; a wrong token counts.
    assert.equal((await c.send(`AUTH XOAUTH2 ${b64('user=alice\x01auth=Bearer t\x01\x01')}`)).code, 535);
    await c.starttls();
    await c.ehlo();
    assert.equal((await c.send(`AUTH PLAIN ${plain('alice', 'x')}`)).code, 535);
    assert.equal((await c.send(`AUTH PLAIN ${plain('alice', 'y')}`)).code, 535);
    assert.equal((await c.read()).code, 421);
    await c.closedPromise;
  });

  test('AUTH during a mail transaction is 503 (RFC 4954); a MAIL refused with 530 starts none, so AUTH then works', async () => {
    const c = await SmtpClient.connect(server.port('smtp'));
    await c.ehlo();
    assert.equal((await c.send('MAIL FROM:<someone@example.net>')).code, 250);
    assert.equal((await c.send('AUTH PLAIN')).last, '503 5.5.1 AUTH not allowed during a mail transaction.');
    c.close();
    const d = await secured(server);
    assert.equal((await d.send('MAIL FROM:<a@example.org>')).code, 530);
    assert.equal((await d.send(`AUTH PLAIN ${plain('alice', 'alice-secret')}`)).code, 235);
    d.close();
  });

  test('MAIL FROM unauthenticated where require = true is 530; where false it is accepted', async () => {
    const c = await secured(server);
    assert.equal((await c.send('MAIL FROM:<alice@example.org>')).last, '530 5.7.0 Authentication required');
    c.close();
    const d = await SmtpClient.connect(server.port('smtp'));
    await d.ehlo();
    assert.equal((await d.send('MAIL FROM:<someone@example.net>')).code, 250);
    d.close();
  });

  test('AUTH stage work runs in the worker pool, never on the main thread', async () => {
    const before = server.seen.length;
    const c = await secured(server);
    await c.send('AUTH LOGIN');
    await c.send(b64('alice'));
    assert.equal((await c.send(b64('alice-secret'))).code, 235);
    c.close();
    const tasks = server.seen.slice(before).filter((e) => e.type === 'pool.task');
    // three decode steps for LOGIN (none, username, password) and the secret check, each on a worker thread
    assert.deepEqual(tasks.map((t) => (t.type === 'pool.task' ? t.kind : '')), ['sasl', 'sasl', 'sasl', 'hash']);
    for (const t of tasks) assert.ok(t.type === 'pool.task' && t.threadId > 0);
    // The rules were evaluated on a worker too: once per listener, since these rules test only `listener`,
    // after the one task that warmed the pool when the generation was built.
    const rules = server.seen.filter((e) => e.type === 'pool.task' && e.kind === 'rules');
    assert.equal(rules.length, 1 + 2);
    for (const t of rules) assert.ok(t.type === 'pool.task' && t.threadId > 0);
  });
});
