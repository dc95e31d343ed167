// End to end: the seed config (Stalwart's AUTH-stage example), swaks → Postern → real Dovecot.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { startDovecot, type RunningDovecot } from './helpers/dovecot.js';
import { scratch, startPostern, type TestPostern } from './helpers/postern.js';

const run = promisify(execFile);

let dovecot: RunningDovecot;
let postern: TestPostern;

before(async () => {
  dovecot = await startDovecot({ users: { alice: 'alice-pw', bob: 'bob-pw' } });
  const { dir, cert } = await scratch();
  const seed = await readFile(new URL('../config/stalwart-imap.toml', import.meta.url), 'utf8');
  // Ports changed; the certificate and queue (Postern additions, not the seed's) go to a scratch dir.
  const toml = `${seed
    .replace(/bind = \["127\.0\.0\.1:\d+"\]/g, 'bind = ["127.0.0.1:0"]')
    .replace(/^port = 143$/m, `port = ${dovecot.imapPort}`)
    .replace('file://data/certs/postern.crt', `file://${cert.cert}`)
    .replace('file://data/certs/postern.key', `file://${cert.key}`)
    .replace('./data/postern.sock', join(dir, 'postern.sock'))}
[queue]
path = "${join(dir, 'queue')}"
`;
  postern = await startPostern(toml);
});

after(async () => {
  await postern?.close();
  await dovecot?.stop();
});

/** Runs swaks up to AUTH and returns the final AUTH reply line, e.g. "235 2.7.0 Authentication succeeded.". */
async function swaksAuth(listener: 'submission' | 'submissions', user: string, password: string): Promise<string> {
  const args = [
    '--server', '127.0.0.1', '--port', String(postern.port(listener)),
    listener === 'submission' ? '--tls' : '--tls-on-connect',
    '--auth', 'PLAIN', '--auth-user', user, '--auth-password', password,
    '--quit-after', 'AUTH', '--to', 'someone@example.org', '--from', `${user}@example.org`,
  ];
  const output = await run('swaks', args, { timeout: 30_000 }).then(
    (r) => r.stdout,
    (err: { stdout?: string }) => err.stdout ?? '', // swaks exits non-zero when AUTH fails
  );
  // The server's reply to AUTH: the last received line (`<~ ` / `<~* `) after the AUTH command.
  const afterAuth = output.slice(output.lastIndexOf('AUTH PLAIN'));
  const reply = afterAuth.split('\n').find((line) => /^<~\*? +\d{3} /.test(line));
  return reply?.replace(/^<~\*? +/, '').trim() ?? `no AUTH reply in:\n${output}`;
}

const cacheHits = (polarity: 'positive' | 'negative'): number =>
  postern.seen.filter((e) => e.type === 'lookup.cache' && e.outcome === 'hit' && e.polarity === polarity).length;

test('seed config: good 235 and bad 535 from Dovecot; both from cache once it stops; cold and stopped 454', async () => {
  // errors.wait is the seed's 5s before a 535, so the two sessions of each round run side by side.
  const [good, bad] = await Promise.all([
    swaksAuth('submission', 'alice', 'alice-pw'),
    swaksAuth('submissions', 'alice', 'wrong-pw'),
  ]);
  assert.equal(good, '235 2.7.0 Authentication succeeded.');
  assert.equal(bad, '535 5.7.8 Authentication credentials invalid.');
  assert.equal(await dovecot.logins(), 2);

  await dovecot.stop();
  const [goodAgain, badAgain, cold] = await Promise.all([
    swaksAuth('submissions', 'alice', 'alice-pw'),
    swaksAuth('submission', 'alice', 'wrong-pw'),
    swaksAuth('submission', 'bob', 'bob-pw'),
  ]);
  assert.equal(goodAgain, '235 2.7.0 Authentication succeeded.');
  assert.equal(badAgain, '535 5.7.8 Authentication credentials invalid.');
  assert.equal(cold, '454 4.7.0 Temporary authentication failure');
  assert.equal(cacheHits('positive'), 1);
  assert.equal(cacheHits('negative'), 1);
});
