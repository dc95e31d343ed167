// The incumbent doing Postern's cold job: Postfix 3.7 smtpd (STARTTLS, AUTH PLAIN) with Dovecot SASL,
// an auth-only Dovecot whose `passdb imap` logs every AUTH in at the remote IMAP server over
// STARTTLS. Dovecot 2.3 never caches `passdb imap`, so every AUTH is a remote login, as in
// Postern with its cache off. Both run from their own directories (docs/testing.md).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Fixture } from '../fixture.js';
import { freePort, greets, spawnSystem, type RunningSystem } from '../process.js';

const run = promisify(execFile);
const PORT_ATTEMPTS = 5;
const MASTER = '/usr/lib/postfix/sbin/master';

export interface PostfixScenario {
  name: string;
  /** The remote IMAP server (STARTTLS) that `passdb imap` logs in to. */
  imap: { host: string; port: number };
}

function dovecotConf(dir: string, queue: string, imap: PostfixScenario['imap']): string {
  return `
protocols = none
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
ssl = no
auth_mechanisms = plain login
# Every check comes from the same client address: no per-failure delay, no per-IP penalty.
auth_failure_delay = 0
# Postern's bench remote is reached with allow-invalid-certs = true: the same here.
passdb {
  driver = imap
  args = host=${imap.host} port=${imap.port} ssl=starttls allow_invalid_cert=yes
}
userdb {
  driver = static
  args = uid=dovecot gid=dovecot home=${dir}/home
}
service auth {
  unix_listener ${queue}/private/auth {
    mode = 0660
    user = postfix
    group = postfix
  }
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
`;
}

function mainCf(fx: Fixture, dir: string): string {
  return `
compatibility_level = 3.6
queue_directory = ${dir}/queue
data_directory = ${dir}/data
maillog_file = ${dir}/postfix.log
maillog_file_prefixes = ${dir}
myhostname = localhost
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
# Like Postern's disableReverseLookup: no DNS lookup of the client per connection.
smtpd_peername_lookup = no
smtpd_tls_cert_file = ${fx.cert.cert}
smtpd_tls_key_file = ${fx.cert.key}
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
`;
}

/** Debian's master.cf without the port-25 listener, plus a submission-style smtpd on `port`. */
async function masterCf(port: number): Promise<string> {
  const debian = await readFile('/etc/postfix/master.cf', 'utf8');
  const kept = debian.split('\n').filter((line) => !/^smtp\s+inet\s/.test(line));
  const options = [
    'smtpd_tls_security_level=encrypt',
    'smtpd_sasl_auth_enable=yes',
    'smtpd_tls_auth_only=yes',
    'smtpd_client_restrictions=permit_sasl_authenticated,reject',
  ];
  return [...kept, `127.0.0.1:${port} inet n - n - - smtpd ${options.map((o) => `-o ${o}`).join(' ')}`, ''].join('\n');
}

export async function startPostfixImap(fx: Fixture, s: PostfixScenario): Promise<RunningSystem> {
  const dir = join(fx.dir, s.name);
  const etc = join(dir, 'etc');
  const queue = join(dir, 'queue');
  const dovecotDir = join(dir, 'dovecot');
  for (const d of [etc, queue, join(dir, 'data'), join(dovecotDir, 'home')]) await mkdir(d, { recursive: true });
  await chown(join(dir, 'data'), ...(await ids('postfix')));
  // Postfix's daemons run as postfix, Dovecot's auth process as dovecot: both reach in from the fixture's (0700) dir.
  await chmod(fx.dir, 0o711);
  await chmod(dir, 0o755);
  await chmod(dovecotDir, 0o755);
  await writeFile(join(etc, 'main.cf'), mainCf(fx, dir));

  let lastError: unknown;
  // Postfix can't report a port it picked, so it gets a free one; retried if another process took it.
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const port = await freePort();
    await writeFile(join(etc, 'master.cf'), await masterCf(port));
    // Debian chroots smtpd into the queue dir, where it would lack /etc files and the auth socket.
    await run('postconf', ['-c', etc, '-F', '*/*/chroot = n']);
    // Creates the queue's subdirectories (private/ among them, for Dovecot's auth socket).
    await run('postfix', ['-c', etc, 'check']);
    const dovecotConfFile = join(dovecotDir, 'dovecot.conf');
    await writeFile(dovecotConfFile, dovecotConf(dovecotDir, queue, s.imap));
    const authSocket = join(queue, 'private', 'auth');
    const dovecot = await spawnSystem({
      name: `${s.name}-dovecot`,
      command: 'dovecot',
      args: ['-F', '-c', dovecotConfFile],
      logDir: fx.dir,
      group: true,
      // No port of its own: ready once the auth socket is there (0 = nothing to connect to).
      port: async () => (existsSync(authSocket) ? 0 : null),
    });
    try {
      // The master in the foreground (it stays the child, in its own process group with its daemons).
      const postfix = await spawnSystem({
        name: s.name,
        command: MASTER,
        args: ['-c', etc, '-s'],
        logDir: fx.dir,
        group: true,
        port: async () => ((await greets(port)) ? port : null),
      });
      return {
        ...postfix,
        stop: async () => {
          await postfix.stop();
          await dovecot.stop();
        },
      };
    } catch (err) {
      lastError = err;
      await dovecot.stop();
    }
  }
  throw lastError;
}

async function ids(user: string): Promise<[number, number]> {
  const [uid, gid] = await Promise.all([run('id', ['-u', user]), run('id', ['-g', user])]);
  return [Number(uid.stdout.trim()), Number(gid.stdout.trim())];
}
