// Haraka 3.3.4 from a config dir written here: single process (nodes=0), STARTTLS with the bench's
// certificate, users in auth/flat_file, mail discarded. Its own defaults otherwise (info logging).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CACHE_DIR, ROOT, type Fixture } from '../fixture.js';
import { freePort, greets, spawnSystem, type RunningSystem } from '../process.js';

const run = promisify(execFile);
const HARAKA = join(ROOT, 'node_modules', 'haraka');
const PORT_ATTEMPTS = 5;

/**
 * The tls plugin runs `openssl dhparam 2048` (slow) when dhparams.pem is missing. DH parameters
 * only matter for DHE cipher suites, which TLS 1.3 with ECDHE (what every bench client negotiates)
 * never uses, so a fast -dsaparam set made once and cached is enough.
 */
async function dhparams(): Promise<string> {
  const file = join(CACHE_DIR, 'dhparams.pem');
  if (!existsSync(file)) {
    await mkdir(CACHE_DIR, { recursive: true });
    await run('openssl', ['dhparam', '-dsaparam', '-out', file, '2048']);
  }
  return file;
}

/** `haraka -c ROOT` reads ROOT/config/. */
async function writeConfig(fx: Fixture, root: string, port: number): Promise<void> {
  const dir = join(root, 'config');
  await mkdir(dir, { recursive: true });
  const files: Record<string, string> = {
    'smtp.ini': `listen=127.0.0.1:${port}\nnodes=0\nforce_shutdown_timeout=2\n`,
    plugins: ['tls', 'auth/flat_file', 'rcpt_to.in_host_list', 'queue/discard'].join('\n') + '\n',
    'tls.ini': 'key=tls_key.pem\ncert=tls_cert.pem\ndhparam=dhparams.pem\n',
    'auth_flat_file.ini': `[core]\nmethods=PLAIN,LOGIN\n\n[users]\n${fx.users.map((u) => `${u.user}=${u.password}`).join('\n')}\n`,
    host_list: 'example.org\n',
    me: 'localhost\n',
  };
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  // Without connection.ini every connection crashes the worker (docs/testing.md).
  await copyFile(join(HARAKA, 'config', 'connection.ini'), join(dir, 'connection.ini'));
  await copyFile(fx.cert.key, join(dir, 'tls_key.pem'));
  await copyFile(fx.cert.cert, join(dir, 'tls_cert.pem'));
  await copyFile(await dhparams(), join(dir, 'dhparams.pem'));
}

export async function startHaraka(fx: Fixture, name = 'haraka', nodeArgs: string[] = []): Promise<RunningSystem> {
  const dir = join(fx.dir, name);
  let lastError: unknown;
  // Haraka can't report a port it picked, so it gets a free one; retried if another process took it.
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const port = await freePort();
    await writeConfig(fx, dir, port);
    try {
      return await spawnSystem({
        name,
        command: process.execPath,
        args: [...nodeArgs, join(HARAKA, 'bin', 'haraka'), '-c', dir],
        env: { YES_REALLY_DO_DISCARD: '1' },
        logDir: fx.dir,
        stopSignal: 'SIGINT',
        port: async () => ((await greets(port)) ? port : null),
      });
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}
