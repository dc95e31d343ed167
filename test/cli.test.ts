// The command line: --check, --version, config errors with positions, hash-password. Running the
// server and its signals: daemon.test.ts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { basics, scratch } from './helpers/postern.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function postern(args: string[], input?: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

test('--check on the embedded default lists the smtp and submission listeners and their AUTH settings', async () => {
  const r = await postern(['--check', '--config', 'config/postern.toml']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /listener smtp: smtp on 127\.0\.0\.1:2525, no TLS|listener smtp: smtp on 127\.0\.0\.1:2525/);
  assert.match(r.stdout, /listener submission: smtp on 127\.0\.0\.1:5587, STARTTLS/);
  assert.match(r.stdout, /auth: mechanisms \[PLAIN, LOGIN\], lookup directory\/local, require true/);
  assert.match(r.stdout, /auth: mechanisms \[\], lookup none, require false/);
});

test('--check on the seed example (Stalwart\'s remote/imap config)', async () => {
  const r = await postern(['--check', '--config', 'config/stalwart-imap.toml']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /lookup remote\/imap, require true, errors\.total 3, errors\.wait 5000ms/);
});

test('one bind address of a listener taken: says which, exits 1 at once, leaves none of its other addresses bound', async () => {
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  const taken = (busy.address() as AddressInfo).port;
  const free = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
  try {
    const { dir, cert } = await scratch();
    const file = join(dir, 'clash.toml');
    const listeners = `[server.listener."submission"]\nbind = ["127.0.0.1:${free}", "127.0.0.1:${taken}"]\n`;
    await writeFile(file, basics(dir, cert, { listeners }));
    // Before the fix the bound address kept the process alive: execFile's 30 s timeout would kill it.
    const r = await postern(['--config', file]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`EADDRINUSE.*127\\.0\\.0\\.1:${taken}`));
    // the other address is free again
    const again = createServer();
    await new Promise<void>((resolve, reject) => again.once('error', reject).listen(free, '127.0.0.1', resolve));
    again.close();
  } finally {
    busy.close();
  }
});

test('a broken config exits 2 with FILE:LINE:COLUMN for every problem', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'postern-cli-'));
  const file = join(dir, 'broken.toml');
  await writeFile(
    file,
    [
      '[server.listener."smtp"]',
      'bind = ["127.0.0.1:2525"]',
      '[session.auth]',
      'mechanisms = ["plain", "cram-md5"]',
      'errors.wait = "5 parsecs"',
    ].join('\n'),
  );
  const r = await postern(['--check', '--config', file]);
  assert.equal(r.code, 2);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 2, r.stderr);
  assert.match(lines[0]!, new RegExp(`^${file}:4:\\d+: session\\.auth\\.mechanisms`));
  assert.match(lines[1]!, new RegExp(`^${file}:5:\\d+: session\\.auth\\.errors\\.wait`));
  assert.ok(!r.stderr.includes('    at '), 'no stack trace');
});

test('a TOML syntax error exits 2 with its line and column', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'postern-cli-'));
  const file = join(dir, 'syntax.toml');
  await writeFile(file, '[server]\nhostname = "a"\ngreeting = \n');
  const r = await postern(['--check', '--config', file]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`^${file}:3:\\d+: `));
});

test('--version', async () => {
  const r = await postern(['--version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^postern \d+\.\d+\.\d+\n$/);
});

test('hash-password, given a password on stdin, prints an argon2id PHC string', async () => {
  const r = await postern(['hash-password'], 'correct horse\n');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$\S+\n$/);
});
