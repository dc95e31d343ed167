// Postern as the CLI runs it, in a child process of its own (signals, exit codes, its stdout log), and
// a stand-in for systemd's notification socket to run it under.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { reapOnExit } from './children.js';
import { eventually } from './wait.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');

export type LogLine = Record<string, unknown>;

export interface Daemon {
  child: ChildProcess;
  /** stdout so far. */
  stdout(): string;
  stderr(): string;
  /** The whole log lines so far, parsed (a line that is not JSON fails the caller's parse). */
  lines(): LogLine[];
  /** Waits for the first log line whose fields include all of `fields`. */
  line(fields: LogLine, timeout?: number): Promise<LogLine>;
  /** The first port of listener `id`, from its listener.up line. */
  port(id: string): Promise<number>;
  /** How the process ended. */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface DaemonOptions {
  env?: NodeJS.ProcessEnv;
  /** Core dumps off (a test that ends it by a signal whose default action dumps core). */
  noCore?: boolean;
}

/** `postern --config FILE`, from source, in the repository's root. */
export function spawnPostern(file: string, { env = {}, noCore = false }: DaemonOptions = {}): Daemon {
  const argv = [process.execPath, '--import', 'tsx', MAIN, '--config', file];
  // exec: the shell becomes Postern, so signals reach it and its exit is the child's.
  const child = noCore
    ? spawn('/bin/sh', ['-c', 'ulimit -c 0; exec "$@"', 'sh', ...argv], { cwd: ROOT, env: { ...process.env, ...env } })
    : spawn(argv[0]!, argv.slice(1), { cwd: ROOT, env: { ...process.env, ...env } });
  reapOnExit(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exit = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  const lines = (): LogLine[] =>
    out
      .split('\n')
      .slice(0, -1)
      .map((l) => JSON.parse(l) as LogLine);
  const matching = (fields: LogLine): LogLine | undefined =>
    lines().find((l) => Object.entries(fields).every(([k, v]) => JSON.stringify(l[k]) === JSON.stringify(v)));
  const line = async (fields: LogLine, timeout = 20_000): Promise<LogLine> => {
    await eventually(() => matching(fields) !== undefined, () => `a log line with ${JSON.stringify(fields)}; stdout: ${out}; stderr: ${err}`, {
      timeout,
    });
    return matching(fields)!;
  };
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    lines,
    line,
    port: async (id) => Number(((await line({ event: 'listener.up', listener: id })).addresses as string[])[0]!.split(':').pop()),
    exit,
  };
}

export interface NotifySocket {
  /** For NOTIFY_SOCKET. */
  path: string;
  /** Every message so far, in order (systemd-notify's BARRIER=1 synchronisation messages left out). */
  messages(): string[];
  stop(): Promise<void>;
}

/**
 * A Unix datagram socket receiving sd_notify messages, as systemd's is. Node has no Unix datagram
 * sockets (node:dgram is UDP only), so python3 holds it: one JSON string per message on its stdout.
 * It reads without ancillary data, which closes the file descriptor systemd-notify's barrier passes:
 * that is how systemd-notify learns the message was read.
 */
export async function startNotifySocket(): Promise<NotifySocket> {
  const path = join(await mkdtemp(join(tmpdir(), 'postern-notify-')), 'notify.sock');
  const program = [
    'import json, socket, sys',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    's.bind(sys.argv[1])',
    'print(json.dumps("bound"), flush=True)',
    'while True:',
    '    print(json.dumps(s.recv(65536).decode()), flush=True)',
  ].join('\n');
  const child = spawn('python3', ['-c', program, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  reapOnExit(child);
  const received: string[] = [];
  let buffer = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    received.push(...lines.map((l) => JSON.parse(l) as string));
  });
  await eventually(() => received[0] === 'bound', 'the notify socket to be bound');
  return {
    path,
    messages: () => received.slice(1).filter((m) => m !== 'BARRIER=1'),
    stop: async () => {
      child.kill();
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    },
  };
}
