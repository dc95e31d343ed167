// A real HAProxy (Debian's `haproxy`) in `mode tcp` in front of Postern's listeners: one frontend per
// backend, each sending a PROXY header (v1 `send-proxy` or v2 `send-proxy-v2`), with or without a
// health check. Its runtime API (the stats socket) tells what each check last saw.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exited, reapOnExit } from './children.js';
import { freePort } from './dovecot.js';
import { poll } from './wait.js';

export interface HaproxyBackend {
  /** The Postern port this frontend forwards to, on 127.0.0.1. */
  port: number;
  proxy: 'v1' | 'v2';
  /**
   * `smtp`: `option smtpchk` (greeting, HELO, 250), `smtps`: the same over TLS (`check-ssl`), `tcp`:
   * connect only; none when absent. Checks send the PROXY header too (v2: LOCAL; v1: the check's own addresses).
   */
  check?: 'smtp' | 'smtps' | 'tcp';
  /** Also listen on [::1] (same port), so a client can arrive over IPv6. */
  ipv6?: boolean;
}

export interface RunningHaproxy {
  /** The frontend's port (on 127.0.0.1, and on ::1 when asked). */
  port(frontend: string): number;
  /** Each checked server's last check result by frontend name, e.g. { v2: 'L7OK' } (HAProxy's check_status). */
  checks(): Promise<Record<string, string>>;
  /** What HAProxy wrote to stderr (its log, `option tcplog`). */
  log(): string;
  /** Stops HAProxy (SIGTERM: it closes at once) and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

/** Fast checks so a test need not wait long for the first result. */
const CHECK_INTERVAL = '500ms';

function haproxyConfig(dir: string, backends: Record<string, HaproxyBackend>, ports: Record<string, number>): string {
  const sections = Object.entries(backends).map(([name, b]) => {
    const binds = [`  bind 127.0.0.1:${ports[name]}`, ...(b.ipv6 ? [`  bind [::1]:${ports[name]}`] : [])];
    const check =
      b.check === undefined ? '' : ` check inter ${CHECK_INTERVAL}${b.check === 'smtps' ? ' check-ssl verify none' : ''}`;
    return [
      `frontend ${name}`,
      ...binds,
      `  default_backend ${name}`,
      `backend ${name}`,
      ...(b.check === 'smtp' || b.check === 'smtps' ? ['  option smtpchk HELO haproxy.test'] : []),
      `  server postern 127.0.0.1:${b.port} ${b.proxy === 'v2' ? 'send-proxy-v2' : 'send-proxy'}${check}`,
    ].join('\n');
  });
  return `global
  stats socket ${join(dir, 'admin.sock')} mode 600 level admin
  log stderr format raw local0 info
defaults
  mode tcp
  log global
  option tcplog
  timeout connect 5s
  timeout client 1m
  timeout server 1m
  # A check may take longer than its interval on a busy machine (a session's first rules run in the
  # worker pool); without this, HAProxy gives up after the interval and marks Postern down.
  timeout check 10s
${sections.join('\n')}
`;
}

/** One command on the runtime API; the answer is everything up to the close. */
function runtimeCommand(socketPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.once('error', reject);
    socket.once('close', () => resolve(answer));
    socket.end(`${command}\n`);
  });
}

export async function startHaproxy(backends: Record<string, HaproxyBackend>): Promise<RunningHaproxy> {
  const dir = await mkdtemp(join(tmpdir(), 'postern-haproxy-'));
  const config = join(dir, 'haproxy.cfg');
  const adminSocket = join(dir, 'admin.sock');
  let child: ChildProcess | null = null;
  let stderr = '';
  let ports: Record<string, number> = {};
  // A port picked here may be taken before HAProxy binds it: it then exits at once, and we retry.
  for (let attempt = 0; attempt < 5 && child === null; attempt++) {
    ports = {};
    for (const name of Object.keys(backends)) ports[name] = await freePort();
    await writeFile(config, haproxyConfig(dir, backends, ports));
    stderr = '';
    // -db: foreground, no daemon; its log goes to stderr.
    const started = spawn('haproxy', ['-f', config, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
    reapOnExit(started);
    started.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const gone = (): boolean => started.exitCode !== null || started.signalCode !== null;
    const answers = async (): Promise<boolean> => (await runtimeCommand(adminSocket, 'show info').catch(() => '')).includes('Name: HAProxy');
    await poll(async () => gone() || (await answers()), { timeout: 10_000, every: 50 });
    if (!gone()) child = started;
  }
  if (child === null) throw new Error(`haproxy did not start: ${stderr.trim()}`);
  const running = child;

  let stopped: Promise<void> | null = null;
  return {
    port(frontend) {
      const port = ports[frontend];
      if (port === undefined) throw new Error(`no frontend "${frontend}"`);
      return port;
    },
    async checks() {
      // "show stat" is CSV with a "# pxname,svname,…" header line; one row per frontend, server and backend.
      const [header = '', ...rows] = (await runtimeCommand(adminSocket, 'show stat')).trim().split('\n');
      const columns = header.replace(/^# /, '').split(',');
      const [px, sv, status] = ['pxname', 'svname', 'check_status'].map((c) => columns.indexOf(c));
      const result: Record<string, string> = {};
      for (const row of rows.map((r) => r.split(','))) {
        if (row[sv!] === 'postern' && backends[row[px!] ?? '']?.check !== undefined) result[row[px!] ?? ''] = row[status!] ?? '';
      }
      return result;
    },
    log: () => stderr,
    stop() {
      stopped ??= (async () => {
        running.kill('SIGTERM');
        await exited(running);
        await rm(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
