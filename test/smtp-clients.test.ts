// Real mail clients (nodemailer, swaks) submit through the embedded default config, ports moved to 0.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { startPostern, type TestPostern } from './helpers/postern.js';

const run = promisify(execFile);
let server: TestPostern;
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'postern-default-'));
  const embedded = await readFile(new URL('../config/postern.toml', import.meta.url), 'utf8');
  const toml = embedded
    .replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:0')
    .replaceAll('file://data/', `file://${dir}/`)
    .replaceAll('./data/', `${dir}/`);
  assert.notEqual(toml, embedded);
  server = await startPostern(toml);
});
after(() => server.close());

test('the embedded default generates its self-signed certificate on first start', () => {
  assert.ok(existsSync(join(dir, 'certs', 'postern.crt')) && existsSync(join(dir, 'certs', 'postern.key')));
  assert.ok(server.logs.some((l) => l.includes('"tls.generated"')));
});

test('nodemailer: STARTTLS + AUTH (PLAIN and LOGIN) as the demo user, message queued', async () => {
  for (const method of ['PLAIN', 'LOGIN']) {
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: server.port('submission'),
      secure: false,
      requireTLS: true,
      tls: { rejectUnauthorized: false },
      auth: { user: 'demo', pass: 'demo-password', method },
    });
    const info = await transport.sendMail({
      from: 'demo@example.org',
      to: 'someone@example.net',
      subject: `via ${method}`,
      text: 'hello',
    });
    assert.match(info.response, /^250 2\.0\.0 \S+ Message queued$/);
    transport.close();
  }
  const files = await readdir(join(dir, 'queue'));
  assert.equal(files.filter((f) => f.endsWith('.json')).length, 2);
});

test('nodemailer with a wrong password gets 535', async () => {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port: server.port('submission'),
    requireTLS: true,
    tls: { rejectUnauthorized: false },
    auth: { user: 'demo', pass: 'not-the-password' },
  });
  await assert.rejects(transport.verify(), (err: { responseCode?: number; response?: string }) => {
    assert.equal(err.responseCode, 535);
    assert.equal(err.response, '535 5.7.8 Authentication credentials invalid.');
    return true;
  });
  transport.close();
});

test('swaks: STARTTLS + AUTH LOGIN + DATA on submission; plain submission on smtp', async () => {
  const swaks = (args: string[]) => run('swaks', ['--server', '127.0.0.1', '--from', 'demo@example.org', '--to', 'x@example.net', ...args]);
  const { stdout } = await swaks([
    '--port', String(server.port('submission')), '--tls', '--auth', 'LOGIN', '--auth-user', 'demo', '--auth-password', 'demo-password',
  ]);
  assert.match(stdout, /<~ {2}235 2\.7\.0 Authentication succeeded\./);
  assert.match(stdout, /<~ {2}250 2\.0\.0 \S+ Message queued/);
  const plainSmtp = await swaks(['--port', String(server.port('smtp'))]);
  assert.match(plainSmtp.stdout, /<- {2}250 2\.0\.0 \S+ Message queued/);
});
