// Real IMAP peers for the lookup tests: a private Dovecot (with an OAuth2 introspection endpoint),
// a TCP proxy that counts simultaneous connections at the IMAP side, and a server that never greets.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { makeCertificate, type TestCertificate } from './certs.js';
import { exited, reapOnExit } from './children.js';
import { poll, sleep } from './wait.js';

export interface DovecotOptions {
  /** user → password (stored SSHA256-hashed). */
  users: Record<string, string>;
  /** bearer token → user, answered `active` by the introspection endpoint. */
  tokens?: Record<string, string>;
  /** Tokens the introspection endpoint fails on (HTTP 503): Dovecot then answers NO [UNAVAILABLE]. */
  brokenTokens?: string[];
  /** false: no TLS at all (no STARTTLS, no imaps port; imapsPort is 0), plaintext auth allowed. */
  tls?: boolean;
  /** More settings, appended to dovecot.conf (e.g. the bench's login and imap process settings). */
  extraConf?: string;
}

export interface RunningDovecot {
  host: string;
  /** Plaintext port (STARTTLS). */
  imapPort: number;
  /** Implicit-TLS port. */
  imapsPort: number;
  cert: TestCertificate;
  /**
   * Authentication attempts (successful and failed) Dovecot has logged so far; only `user`'s when
   * given, so that late log lines from other tests' logins cannot shift the count.
   */
  logins(user?: string): Promise<number>;
  /** The SASL method of every successful login so far, in log order (e.g. "PLAIN", "XOAUTH2"). */
  loginMethods(): Promise<string[]>;
  /** The client address Dovecot logged for each successful login (rip=…). */
  loginAddresses(): Promise<string[]>;
  /** Stops Dovecot (SIGTERM to the master) and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';

/** {SSHA256}: base64(sha256(password ‖ salt) ‖ salt), the scheme `doveadm pw -s SSHA256` writes. */
export function ssha256(password: string): string {
  const salt = randomBytes(8);
  const digest = createHash('sha256').update(password).update(salt).digest();
  return `{SSHA256}${Buffer.concat([digest, salt]).toString('base64')}`;
}

/** A port the kernel just handed out; the caller binds it soon after (and retries on a clash). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function listen(server: Server | HttpServer): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

function close(server: Server | HttpServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** RFC 7662-style token introspection for Dovecot's oauth2 passdb (introspection_mode = post). */
async function startIntrospection(tokens: Record<string, string>, broken: string[]): Promise<{ port: number; stop(): Promise<void> }> {
  const server = createHttpServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const token = new URLSearchParams(body).get('token') ?? '';
      if (broken.includes(token)) {
        res.statusCode = 503;
        res.end();
        return;
      }
      const username = Object.hasOwn(tokens, token) ? tokens[token] : undefined;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(username === undefined ? { active: false } : { active: true, username }));
    });
  });
  const port = await listen(server);
  return {
    port,
    stop: async () => {
      server.closeAllConnections();
      await close(server);
    },
  };
}

function dovecotConf(dir: string, cert: TestCertificate, imapPort: number, imapsPort: number, tls: boolean, extra: string): string {
  const ssl = tls
    ? `ssl = yes
ssl_cert = <${cert.cert}
ssl_key = <${cert.key}`
    : `ssl = no
disable_plaintext_auth = no`;
  // The built-in config has an imaps listener on 993: port 0 switches it off.
  const imaps = tls ? `inet_listener imaps {\n    port = ${imapsPort}\n    ssl = yes\n  }` : 'inet_listener imaps {\n    port = 0\n  }';
  return `
protocols = imap
listen = ${HOST}
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
info_log_path = ${dir}/dovecot.log
${ssl}
auth_mechanisms = plain login oauthbearer xoauth2
# Tests fail passwords on purpose: no per-failure delay and no per-IP penalty (see docs/testing.md).
auth_failure_delay = 0
auth_verbose = yes
# Postern's ID x-originating-ip is honoured from here, as it would be in production.
login_trusted_networks = 127.0.0.0/8
first_valid_uid = 1
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = ${dir}/users
  mechanisms = plain login
}
passdb {
  driver = oauth2
  args = ${dir}/oauth2.conf
  mechanisms = oauthbearer xoauth2
}
userdb {
  driver = static
  args = uid=dovecot gid=dovecot home=${dir}/home/%u
}
service imap-login {
  inet_listener imap {
    port = ${imapPort}
  }
  ${imaps}
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
${extra}
`;
}

/** True once `port` accepts and, for a plaintext port, greets (imap-login has reached the auth process). */
function answers(port: number, greets: boolean): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => (greets ? socket.once('data', (data) => done(data.toString().startsWith('* OK'))) : done(true)));
    socket.once('error', () => done(false));
  });
}

/** SIGTERM to the master (it takes its children down); SIGKILL to its process group if it lingers. */
async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  }, 5_000);
  await exited(child);
  clearTimeout(timer);
}

/** Starts Dovecot and waits until its ports accept; null if it exited first (a port clash) or never got ready. */
async function launch(conf: string, ports: number[]): Promise<ChildProcess | null> {
  // detached = setsid(2): Dovecot gets its own session and process group, so it can be stopped as one.
  const child = spawn('dovecot', ['-F', '-c', conf], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  reapOnExit(child, { group: true });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const gone = exited(child).then(() => null);
  const ready = (async (): Promise<ChildProcess | null> => {
    // Ready = the plaintext port greets and the other accepts (a master still starting up is slow to stop).
    let up = false;
    const check = async (): Promise<boolean> => (up = (await Promise.all(ports.map((port, i) => answers(port, i === 0)))).every(Boolean));
    await poll(async () => child.exitCode !== null || (await check()), { timeout: 10_000, every: 25 });
    if (up) return child;
    await terminate(child);
    return null;
  })();
  const result = await Promise.race([gone, ready]);
  if (result === null && stderr) console.error(`dovecot did not start: ${stderr.trim()}`);
  return result;
}

export async function startDovecot(opts: DovecotOptions): Promise<RunningDovecot> {
  const dir = await mkdtemp(join(tmpdir(), 'postern-dovecot-'));
  const cert = await makeCertificate(dir);
  // The auth process runs as dovecot and the mail processes as dovecot: they need to reach into dir.
  await chmod(dir, 0o755);
  const dovecotUid = Number(execFileSync('id', ['-u', 'dovecot']).toString().trim());
  const dovecotGid = Number(execFileSync('id', ['-g', 'dovecot']).toString().trim());
  await mkdir(join(dir, 'home'));
  await chown(join(dir, 'home'), dovecotUid, dovecotGid);
  const users = join(dir, 'users');
  await writeFile(users, Object.entries(opts.users).map(([user, pass]) => `${user}:${ssha256(pass)}\n`).join(''));
  await chown(users, userInfo().uid, dovecotGid);
  await chmod(users, 0o640);

  const introspection = await startIntrospection(opts.tokens ?? {}, opts.brokenTokens ?? []);
  await writeFile(
    join(dir, 'oauth2.conf'),
    [
      'introspection_mode = post',
      `introspection_url = http://${HOST}:${introspection.port}/introspect`,
      'username_attribute = username',
      'active_attribute = active',
      'active_value = true',
      '',
    ].join('\n'),
  );

  const conf = join(dir, 'dovecot.conf');
  const tls = opts.tls ?? true;
  let child: ChildProcess | null = null;
  let imapPort = 0;
  let imapsPort = 0;
  for (let attempt = 0; attempt < 5 && child === null; attempt++) {
    imapPort = await freePort();
    imapsPort = tls ? await freePort() : 0;
    await writeFile(conf, dovecotConf(dir, cert, imapPort, imapsPort, tls, opts.extraConf ?? ''));
    child = await launch(conf, tls ? [imapPort, imapsPort] : [imapPort]);
  }
  if (child === null) {
    await introspection.stop();
    throw new Error(`dovecot did not start; see ${join(dir, 'dovecot.log')}`);
  }
  const running = child;

  const log = async (): Promise<string> => readFile(join(dir, 'dovecot.log'), 'utf8').catch(() => '');
  // imap-login logs each success ("Login:"); the auth process logs each failure (auth_verbose).
  const attempts = (text: string, user?: string): number => {
    const who = user === undefined ? null : user.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const succeeded = new RegExp(`imap-login: Info: Login: ${who === null ? '' : `user=<${who}>`}`, 'g');
    const failed = new RegExp(`auth: Info: [\\w-]+\\(${who === null ? '' : `${who},`}.*\\): (?:Password mismatch|unknown user|oauth2 failed)`, 'g');
    return (text.match(succeeded)?.length ?? 0) + (text.match(failed)?.length ?? 0);
  };
  // Dovecot's log process writes asynchronously and says nothing when done: read once the attempt
  // count has held still for 200 ms (a quiet time is the only sign there is).
  const settledLog = async (): Promise<string> => {
    let text = await log();
    for (let i = 0; i < 15; i++) {
      await sleep(200);
      const next = await log();
      if (attempts(next) === attempts(text)) return next;
      text = next;
    }
    return text;
  };
  let stopped: Promise<void> | null = null;
  return {
    host: HOST,
    imapPort,
    imapsPort,
    cert,
    logins: async (user) => attempts(await settledLog(), user),
    loginMethods: async () =>
      [...(await settledLog()).matchAll(/imap-login: Info: Login: .*?method=([A-Z0-9-]+)/g)].map((m) => m[1] ?? ''),
    loginAddresses: async () =>
      [...(await settledLog()).matchAll(/imap-login: Info: Login: .*?rip=([0-9a-f.:]+)/g)].map((m) => m[1] ?? ''),
    stop() {
      stopped ??= (async () => {
        await terminate(running);
        await introspection.stop();
        await rm(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

export interface CountingProxy {
  port: number;
  /**
   * Most connections open at the same instant since start, each taken to end `slackMs` before the
   * proxy saw it end. The client's FIN can reach us after the handshake of the connection it opened
   * next (the kernel may defer the FIN's delivery to a busy CPU's softirq thread), which would show
   * a one-connection overlap that never existed at the client. A real extra connection overlaps for
   * a whole check (tens of ms), far beyond the slack.
   */
  maxOpen(slackMs?: number): number;
  /** Connections accepted since start. */
  total(): number;
  stop(): Promise<void>;
}

/** A TCP pass-through to `targetPort` that times every connection: a real count at the IMAP side. */
export async function startCountingProxy(targetPort: number): Promise<CountingProxy> {
  /** Accepted and closing times (performance.now()); `to` is Infinity while open. */
  const spans: { from: number; to: number }[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const span = { from: performance.now(), to: Infinity };
    spans.push(span);
    const upstream = connect({ host: HOST, port: targetPort });
    sockets.add(client).add(upstream);
    // A connection ends when either side starts closing it ('end') or it is gone.
    const ending = (): void => {
      span.to = Math.min(span.to, performance.now());
    };
    const done = (): void => {
      ending();
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('end', ending).on('error', done).on('close', done);
    upstream.on('end', ending).on('error', done).on('close', done);
    client.pipe(upstream).pipe(client);
  });
  const port = await listen(server);
  return {
    port,
    maxOpen: (slackMs = 0) => {
      // Sweep over opens (+1) and shifted ends (-1); at the same instant an end goes first.
      const events: [at: number, delta: number][] = [];
      for (const { from, to } of spans) if (to - slackMs > from) events.push([from, 1], [to - slackMs, -1]);
      events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      let open = 0;
      let max = 0;
      for (const [, delta] of events) max = Math.max(max, (open += delta));
      return max;
    },
    total: () => spans.length,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await close(server);
    },
  };
}

/**
 * A scripted IMAP server over implicit TLS that greets `* PREAUTH`: already logged in, before any
 * credentials. Dovecot cannot be made to do this for a network client, hence the script. It answers
 * every command OK (LOGOUT with BYE) and records the command names it received.
 */
export async function startPreauthServer(): Promise<{ port: number; commands: string[]; stop(): Promise<void> }> {
  const cert = await makeCertificate();
  const commands: string[] = [];
  const sockets = new Set<Socket>();
  const server = createTlsServer({ key: await readFile(cert.key), cert: await readFile(cert.cert) }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => {}).on('close', () => sockets.delete(socket));
    socket.write('* PREAUTH [CAPABILITY IMAP4rev1 AUTH=PLAIN] logged in as whoever\r\n');
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (let end = pending.indexOf('\r\n'); end >= 0; end = pending.indexOf('\r\n')) {
        const [tag = '*', name = ''] = pending.slice(0, end).split(' ');
        pending = pending.slice(end + 2);
        commands.push(name.toUpperCase());
        socket.write(name.toUpperCase() === 'LOGOUT' ? `* BYE\r\n${tag} OK bye\r\n` : `${tag} OK done\r\n`);
      }
    });
  });
  const port = await listen(server);
  return {
    port,
    commands,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await close(server);
      await rm(cert.dir, { recursive: true, force: true });
    },
  };
}

/** A server that accepts connections and never says a word: for the whole-check timeout. */
export async function startHungServer(): Promise<{ port: number; accepted(): number; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  const port = await listen(server);
  return {
    port,
    accepted: () => accepted,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await close(server);
    },
  };
}
