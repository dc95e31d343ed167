// Systems under test run as child processes of the bench (one process tree, so ratios are fair):
// spawn with output to files, wait until a port answers, read RSS, stop by pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { exited, reapOnExit } from '../test/helpers/children.js';

export interface RunningSystem {
  name: string;
  pid: number;
  port: number;
  /** Resident set size of the server process, from /proc/PID/status (KiB). */
  rssKiB(): number;
  /** CPU time the server process's main thread has run so far (ns), from /proc/PID/task/PID/schedstat. */
  mainThreadCpuNs(): number;
  stop(): Promise<void>;
}

export interface SpawnSpec {
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** stdout and stderr go to DIR/NAME.out and DIR/NAME.err. */
  logDir: string;
  /** Polled until it yields the SMTP port (or the child exits, or startup takes too long). */
  port: (stdout: () => string) => Promise<number | null>;
  startupTimeoutMs?: number;
  /** The signal the server exits cleanly on (a clean exit lets --cpu-prof write its profile). */
  stopSignal?: NodeJS.Signals;
  /** Its own process group, killed as one if the bench dies (a server that forks its workers). */
  group?: boolean;
}

const POLL_MS = 50;
const STOP_GRACE_MS = 10_000;

export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (match === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}

export function mainThreadCpuNs(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0]);
}

export async function spawnSystem(spec: SpawnSpec): Promise<RunningSystem> {
  const outFile = join(spec.logDir, `${spec.name}.out`);
  const errFile = join(spec.logDir, `${spec.name}.err`);
  const out = openSync(outFile, 'w');
  const err = openSync(errFile, 'w');
  const child = spawn(spec.command, spec.args, {
    cwd: spec.cwd,
    env: { ...process.env, ...spec.env },
    stdio: ['ignore', out, err],
    detached: spec.group === true,
  });
  reapOnExit(child, { group: spec.group === true });
  closeSync(out);
  closeSync(err);
  const stdout = (): string => readFileSync(outFile, 'utf8');
  const gone = exited(child);
  let exitedEarly = false;
  void gone.then(() => (exitedEarly = true));

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(spec.stopSignal ?? 'SIGTERM');
    const kill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await gone;
    clearTimeout(kill);
  };

  const deadline = Date.now() + (spec.startupTimeoutMs ?? 30_000);
  let port: number | null = null;
  while (port === null && !exitedEarly && Date.now() < deadline) {
    port = await spec.port(stdout);
    if (port === null) await sleep(POLL_MS);
  }
  if (port === null) {
    await stop();
    const why = readFileSync(errFile, 'utf8').trim().split('\n').slice(-5).join('\n');
    throw new Error(`${spec.name} did not start (${exitedEarly ? `exit ${child.exitCode}` : 'timeout'}); see ${errFile}\n${why}`);
  }
  const pid = child.pid as number;
  const ready = port;
  return { name: spec.name, pid, port: ready, rssKiB: () => rssKiB(pid), mainThreadCpuNs: () => mainThreadCpuNs(pid), stop };
}

/** A port the kernel just handed out, for servers that can't report one they picked themselves. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** True once something on `port` sends an SMTP 220 greeting. */
export function greets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2_000, () => done(false));
    socket.once('data', (chunk: Buffer) => done(chunk.toString('latin1').startsWith('220')));
    socket.once('error', () => done(false));
  });
}
