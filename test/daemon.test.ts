// Postern run as a service manager runs it: the CLI server in a child process, signalled. SIGTERM
// drains and exits 0, a second one exits at once; SIGHUP reloads; SIGUSR1/SIGUSR2 do nothing; under
// systemd (a notification socket the test holds) it reports readiness, reloads and stopping; no
// signal loses a log line; and the shipped unit passes `systemd-analyze verify`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { spawnPostern, startNotifySocket, type LogLine } from './helpers/daemon.js';
import { listeners } from './helpers/fixtures.js';
import { basics, scratch } from './helpers/postern.js';
import { SmtpClient } from './helpers/smtp.js';
import { eventually, within } from './helpers/wait.js';

const UNIT = new URL('../contrib/systemd/postern.service', import.meta.url);

/** A config file with one plain SMTP listener and one worker thread. */
async function configFile(): Promise<{ file: string; toml: string }> {
  const { dir, cert } = await scratch();
  const file = join(dir, 'postern.toml');
  const toml = basics(dir, cert, { threads: 1, listeners: listeners({ smtp: 'smtp' }) });
  await writeFile(file, toml);
  return { file, toml };
}

const events = (lines: LogLine[], event: string): LogLine[] => lines.filter((l) => l.event === event);

test('runs in the foreground, logs JSON lines, and exits 0 on SIGTERM after sessions end', async () => {
  const { file } = await configFile();
  const postern = spawnPostern(file);
  const c = await SmtpClient.connect(await postern.port('smtp'));
  assert.equal(c.greeting.code, 220);
  postern.child.kill('SIGTERM');
  await postern.line({ event: 'shutdown', signal: 'SIGTERM' });
  // a running session may finish its work during the grace period
  assert.equal((await c.send('QUIT')).code, 221);
  assert.deepEqual(await postern.exit, { code: 0, signal: null });
  assert.equal(events(postern.lines(), 'stopped').length, 1);
});

test('under systemd: READY=1 once listening; SIGUSR1/SIGUSR2 are logged and harmless; SIGHUP reloads between RELOADING=1 and READY=1, a broken file refused with its position; STOPPING=1 at SIGTERM; no log line lost', async () => {
  const notify = await startNotifySocket();
  const { file, toml } = await configFile();
  const postern = spawnPostern(file, { env: { NOTIFY_SOCKET: notify.path } });
  try {
    const port = await postern.port('smtp');
    const greet = async (): Promise<string> => {
      const c = await SmtpClient.connect(port);
      c.close();
      return c.greeting.last;
    };
    await eventually(() => notify.messages().length > 0, 'a notification');
    assert.deepEqual(notify.messages(), ['READY=1\nSTATUS=config generation 1']);
    let sessions = 0;

    for (const signal of ['SIGUSR1', 'SIGUSR2'] as const) {
      postern.child.kill(signal);
      await postern.line({ event: 'signal.ignored', signal });
    }
    assert.equal(await greet(), '220 mx.test Postern test');
    sessions++;

    // SIGHUP used to kill the process, and the session's lines still in the log's batch with it.
    await writeFile(file, toml.replace('greeting = "Postern test"', 'greeting = "reloaded"'));
    const before = process.hrtime.bigint() / 1000n;
    await greet();
    sessions++;
    postern.child.kill('SIGHUP');
    await postern.line({ event: 'config.reload', result: 'ok', generation: 2 });
    const after = process.hrtime.bigint() / 1000n;
    await eventually(() => notify.messages().length === 3, () => `RELOADING=1 and READY=1; got ${JSON.stringify(notify.messages())}`);
    const [reloading, ready] = notify.messages().slice(1);
    const usec = /^RELOADING=1\nMONOTONIC_USEC=(\d+)$/.exec(reloading!)?.[1];
    assert.ok(usec !== undefined, reloading);
    // CLOCK_MONOTONIC is one clock for every process on the machine.
    assert.ok(BigInt(usec) >= before && BigInt(usec) <= after, `MONOTONIC_USEC=${usec} outside [${before}, ${after}]`);
    assert.equal(ready, 'READY=1\nSTATUS=config generation 2');
    assert.equal(await greet(), '220 mx.test reloaded');
    sessions++;

    const broken = toml.replace('greeting = "Postern test"', 'greeting = "never"') + '[session.auth]\nmechanisms = ["cram-md5"]\n';
    await writeFile(file, broken);
    postern.child.kill('SIGHUP');
    await postern.line({ event: 'config.reload', result: 'error', generation: 2 });
    const problem = events(postern.lines(), 'config.problem')[0]?.msg as string;
    const line = broken.split('\n').indexOf('mechanisms = ["cram-md5"]') + 1;
    assert.match(problem, new RegExp(`^${file}:${line}:\\d+: session\\.auth\\.mechanisms\\.0: unknown mechanism "cram-md5"`));
    await eventually(() => notify.messages().length === 5, () => `two more notifications; got ${JSON.stringify(notify.messages())}`);
    assert.equal(notify.messages()[4], 'READY=1\nSTATUS=reload refused (1 problem, see the log); config generation 2 stays in force');
    assert.equal(await greet(), '220 mx.test reloaded');
    sessions++;

    postern.child.kill('SIGTERM');
    assert.deepEqual(await within(postern.exit, 'the exit after SIGTERM'), { code: 0, signal: null });
    await eventually(() => notify.messages().length === 6, 'STOPPING=1');
    assert.equal(notify.messages()[5], 'STOPPING=1');
    assert.equal(events(postern.lines(), 'session.connect').length, sessions);
    assert.equal(events(postern.lines(), 'stopped').length, 1);
    // Node's own SIGUSR1 action would have opened an inspector ("Debugger listening on …").
    assert.equal(postern.stderr(), '');
  } finally {
    postern.child.kill('SIGKILL');
    await notify.stop();
  }
});

test('a second SIGTERM during the drain exits at once, with status 1, after writing the log', async () => {
  const { file } = await configFile();
  const postern = spawnPostern(file);
  // An open session holds the drain for its 10 s grace period.
  const held = await SmtpClient.connect(await postern.port('smtp'));
  postern.child.kill('SIGTERM');
  await postern.line({ event: 'shutdown', signal: 'SIGTERM' });
  postern.child.kill('SIGTERM');
  assert.deepEqual(await within(postern.exit, 'the exit after the second SIGTERM', 5_000), { code: 1, signal: null });
  const lines = postern.lines();
  assert.deepEqual(lines.at(-1), { ...lines.at(-1), event: 'shutdown.forced', signal: 'SIGTERM' });
  assert.equal(events(lines, 'session.connect').length, 1);
  assert.equal(events(lines, 'stopped').length, 0, 'it did not wait for the drain');
  await held.closedPromise;
});

test('SIGQUIT ends the process by that signal, its log written first', async () => {
  const { file } = await configFile();
  const postern = spawnPostern(file, { noCore: true });
  await postern.port('smtp');
  // SIGINT's "shutdown" line is still in the log's batch when SIGQUIT is handled: pending together,
  // the lower-numbered SIGINT is delivered first, and both before the batch's 100 ms flush.
  postern.child.kill('SIGINT');
  postern.child.kill('SIGQUIT');
  assert.deepEqual(await within(postern.exit, 'the exit after SIGQUIT'), { code: null, signal: 'SIGQUIT' });
  const lines = postern.lines();
  assert.equal(events(lines, 'shutdown').length, 1);
  assert.deepEqual(lines.at(-1), { ...lines.at(-1), event: 'shutdown.forced', signal: 'SIGQUIT' });
});

test('the systemd unit passes systemd-analyze verify, which does catch a broken copy', async () => {
  // verify checks that ExecStart's program exists: this machine's node stands in for /usr/bin/node.
  // It needs no running systemd (PID 1 may be anything); it reports problems on stderr and still
  // exits 0 for most, so stderr must be free of lines about the unit.
  const dir = await mkdtemp(join(tmpdir(), 'postern-unit-'));
  const unit = (await readFile(UNIT, 'utf8')).replaceAll('/usr/bin/node ', `${process.execPath} `);
  const verify = async (text: string): Promise<{ code: number; problems: string[] }> => {
    const path = join(dir, 'postern.service');
    await writeFile(path, text);
    return new Promise((resolve) =>
      execFile('systemd-analyze', ['verify', '--man=no', path], (err, _stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, problems: stderr.split('\n').filter((l) => l.includes('postern.service')) }),
      ),
    );
  };
  assert.deepEqual(await verify(unit), { code: 0, problems: [] });
  const misspelt = await verify(unit.replace('ProtectSystem=strict', 'ProtectSytem=strict'));
  assert.equal(misspelt.problems.length, 1, misspelt.problems.join('\n'));
  assert.match(misspelt.problems[0]!, /Unknown key 'ProtectSytem'/);
});
