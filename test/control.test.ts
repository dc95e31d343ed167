// The control socket: `postern status` and `postern reload` against a running server, the errors when
// none runs or the user is not the socket's owner, one server per control socket, and the socket
// moved by a reload.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { requestControl } from '../src/control/client.js';
import { ControlServer } from '../src/control/server.js';
import { basics, scratch, startPostern } from './helpers/postern.js';
import { SmtpClient } from './helpers/smtp.js';
import { reapOnExit } from './helpers/children.js';
import { eventually, sleep } from './helpers/wait.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test('postern status reports version, uptime, generation, listeners, open sessions and queue size; --json the same as data', async () => {
  const { dir, cert } = await scratch();
  const toml = basics(dir, cert);
  const file = join(dir, 'postern.toml');
  await writeFile(file, toml);
  const server = await startPostern(toml);
  const client = await SmtpClient.connect(server.port('smtp'));
  try {
    const text = await cli(['--config', file, 'status']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^postern \d+\.\d+\.\d+, pid \d+, up \d+s, config generation 1$/m);
    assert.match(text.stdout, new RegExp(`^listener smtp: smtp on 127\\.0\\.0\\.1:${server.port('smtp')}$`, 'm'));
    assert.match(text.stdout, /^sessions open: 1$/m);
    assert.match(text.stdout, /^queue: 0 messages$/m);

    const json = await cli(['--config', file, 'status', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const status = JSON.parse(json.stdout) as { pid: number; generation: number; sessions: number; queue: number; listeners: { id: string }[] };
    assert.equal(status.pid, process.pid);
    assert.equal(status.generation, 1);
    assert.equal(status.sessions, 1);
    assert.deepEqual(status.listeners.map((l) => l.id), ['smtp', 'submission', 'submissions']);
  } finally {
    client.close();
    await server.close();
  }
});

test('postern reload over the socket: the new generation, or each problem with its position and exit 1; --json the same as data', async () => {
  const { dir, cert } = await scratch();
  const file = join(dir, 'postern.toml');
  const server = await startPostern(basics(dir, cert), { file });
  try {
    const ok = await cli(['--config', file, 'reload']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, `reloaded ${file}: config generation 2\n`);
    assert.equal(server.running.generation.id, 2);

    // Only the server's own reading of the file finds this: the CLI reads no more than the socket's path.
    const broken = basics(dir, cert) + '[session.auth]\nmechanisms = ["plain", "cram-md5"]\n';
    const line = broken.split('\n').indexOf('mechanisms = ["plain", "cram-md5"]') + 1;
    await writeFile(file, broken);
    const refused = await cli(['--config', file, 'reload']);
    assert.equal(refused.code, 1);
    assert.equal(refused.stdout, '');
    const [head, problem, ...rest] = refused.stderr.trim().split('\n');
    assert.equal(head, `reload of ${file} refused; config generation 2 stays in force:`);
    assert.match(problem!, new RegExp(`^${file}:${line}:\\d+: session\\.auth\\.mechanisms\\.1: unknown mechanism "cram-md5"`));
    assert.deepEqual(rest, []);

    const json = await cli(['--config', file, 'reload', '--json']);
    assert.equal(json.code, 1);
    assert.deepEqual(JSON.parse(json.stdout), { ok: false, generation: 2, source: file, problems: [problem], warnings: [] });
    assert.equal(server.running.generation.id, 2);
  } finally {
    await server.close();
  }
});

test('a reload that changes server.control-socket moves the socket: the new path answers (mode 0600), the old one is gone', async () => {
  const { dir, cert } = await scratch();
  const file = join(dir, 'postern.toml');
  const server = await startPostern(basics(dir, cert), { file });
  try {
    const moved = join(dir, 'run', 'moved.sock');
    await writeFile(file, basics(dir, cert).replace(join(dir, 'postern.sock'), moved));
    // As SIGHUP does it: `postern reload` reads the socket's path from the file, which names the new one already.
    assert.equal((await server.running.reload()).ok, true);
    assert.equal((await stat(moved)).mode & 0o777, 0o600);
    assert.match((await cli(['--config', file, 'status'])).stdout, /config generation 2$/m);
    await assert.rejects(stat(join(dir, 'postern.sock')), { code: 'ENOENT' });
  } finally {
    await server.close();
  }
});

test('a verb may take longer than the deadline for its request to arrive', async () => {
  const { dir } = await scratch();
  const control = new ControlServer(() => {}, { requestTimeoutMs: 100 });
  // Fixed times are the thing tested: the answer comes 300 ms after a request that arrived at once.
  control.register('slow', () => sleep(300).then(() => 'done'));
  await control.listen(join(dir, 'slow.sock'));
  try {
    assert.equal(await requestControl(join(dir, 'slow.sock'), 'slow'), 'done');
  } finally {
    await control.close();
  }
});

test('with no server running: a clear error and exit 69, no stack trace', async () => {
  const { dir, cert } = await scratch();
  const file = join(dir, 'postern.toml');
  await writeFile(file, basics(dir, cert));
  for (const command of ['status', 'reload']) {
    const r = await cli(['--config', file, command]);
    assert.equal(r.code, 69);
    assert.equal(r.stderr.trim(), `postern: no Postern is running with control socket ${join(dir, 'postern.sock')} (start it, or pass the --config it runs with)`);
  }
});

test('the socket is mode 0600: another user gets "permission denied", not an answer', async () => {
  const { dir, cert } = await scratch();
  const server = await startPostern(basics(dir, cert));
  try {
    const socket = join(dir, 'postern.sock');
    assert.equal((await stat(socket)).mode & 0o777, 0o600);
    // As "nobody", the raw connect: the CLI itself would first need to read the config.
    const probe = `require('net').connect(${JSON.stringify(socket)}).on('connect',()=>{console.log('connected');process.exit(0)}).on('error',e=>{console.log(e.code);process.exit(0)})`;
    const answer = await new Promise<string>((resolve) =>
      execFile(process.execPath, ['-e', probe], { uid: 65534, gid: 65534, cwd: '/' }, (_err, stdout) => resolve(stdout.trim())),
    );
    assert.equal(answer, 'EACCES');
  } finally {
    await server.close();
  }
});

test('a second server on a live control socket refuses to start; a stale socket file is replaced', async () => {
  const { dir, cert } = await scratch();
  const first = await startPostern(basics(dir, cert));
  try {
    await assert.rejects(startPostern(basics(dir, cert)), /another Postern is running on control socket/);
  } finally {
    await first.close();
  }
  // A socket file nothing listens on, as a crash leaves it: its owner is SIGKILLed.
  const owner = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(join(dir, 'stale.sock'))}, () => console.log('up'))`]);
  await once(owner.stdout, 'data');
  owner.kill('SIGKILL');
  await once(owner, 'exit');
  assert.ok((await stat(join(dir, 'stale.sock'))).isSocket(), 'the stale socket file is there');
  const toml = basics(dir, cert).replace(join(dir, 'postern.sock'), join(dir, 'stale.sock'));
  const second = await startPostern(toml);
  await second.close();
});

test('a control-socket path that names a regular file is refused, and the file is left as it was', async () => {
  const { dir, cert } = await scratch();
  const file = join(dir, 'notes.txt');
  await writeFile(file, 'keep me\n');
  const toml = basics(dir, cert).replace(join(dir, 'postern.sock'), file);
  await assert.rejects(startPostern(toml), /notes\.txt exists and is not a socket: refusing to replace it/);
  assert.equal(await readFile(file, 'utf8'), 'keep me\n');
});

test('the default control-socket path, when it cannot be made, is a warning: the server runs without one', async () => {
  const { dir, cert } = await scratch();
  // ./data is a regular file in the working directory, so ./data/postern.sock cannot be created.
  await writeFile(join(dir, 'data'), '');
  const file = join(dir, 'postern.toml');
  await writeFile(file, basics(dir, cert).replace(/^control-socket = .*\n/m, ''));
  // tsx by its path: `--import tsx` resolves from the working directory, which is the scratch one here.
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), MAIN, '--config', file], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  reapOnExit(child);
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  try {
    await eventually(() => out.includes('"listener.up"'), () => `the server to start; stdout: ${out}`, { timeout: 20_000 });
    const warning = out.split('\n').find((l) => l.includes('"control.unavailable"'));
    assert.ok(warning, out);
    assert.match(warning, /"path":"\.\/data\/postern\.sock"/);
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
});
