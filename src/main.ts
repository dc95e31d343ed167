#!/usr/bin/env node
// The CLI: run the server, check a config, print the version, or hash a password for the config.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { hashPassword } from './directory/memory/hash.js';
import { loadConfigFile } from './config/load.js';
import { resolveAuthSettings } from './config/rules.js';
import type { Config } from './config/types.js';
import { ConfigError, formatProblem } from './errors.js';
import { createLogger } from './log.js';
import { formatAddress, startPostern } from './runtime/postern.js';

const EXIT_CONFIG = 2;
const EXIT_USAGE = 64;
/** Sessions get this long to finish after SIGTERM/SIGINT. */
const SHUTDOWN_GRACE_MS = 10_000;

const USAGE = `usage: postern [--config FILE] [--check]
       postern hash-password [--scheme argon2id|bcrypt|sha512-crypt]   (reads the password from stdin)
       postern --version`;

/** The package root: dist/src/main.js and src/main.ts sit at different depths. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

function describe(config: Config): string[] {
  const lines = [`config ${config.source}: OK`];
  for (const l of config.listeners) {
    const binds = l.bind.map((b) => formatAddress({ address: b.host, port: b.port, family: b.host.includes(':') ? 'IPv6' : 'IPv4' }));
    const tls = !l.tls.enable ? 'no TLS' : `${l.tls.implicit ? 'implicit TLS' : 'STARTTLS'} (certificate ${l.tls.certificate?.id})`;
    lines.push(`listener ${l.id}: ${l.protocol} on ${binds.join(', ')}, ${tls}, hostname ${l.hostname}`);
    if (l.protocol !== 'smtp') continue;
    // Rules may test remote-ip/helo-domain too; shown here for a client that matches none of those tests.
    const s = resolveAuthSettings(config.auth, { listener: l.id, 'remote-ip': '', 'local-ip': l.bind[0]?.host ?? '', 'helo-domain': '' });
    lines.push(
      `  auth: mechanisms [${s.mechanisms.join(', ')}], lookup ${s.lookup ?? 'none'}, require ${s.require}, ` +
        `errors.total ${s.errorsTotal}, errors.wait ${s.errorsWait}ms`,
    );
  }
  lines.push(`workers: ${config.server.workers.threads} threads, max-queue ${config.server.workers.maxQueue}; spool ${config.queue.path}`);
  return lines;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      check: { type: 'boolean' },
      version: { type: 'boolean', short: 'V' },
      scheme: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const root = packageRoot();
  if (values.help) return console.log(USAGE), 0;
  if (values.version) {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    return console.log(`postern ${pkg.version}`), 0;
  }
  if (positionals[0] === 'hash-password') {
    const scheme = values.scheme ?? 'argon2id';
    if (scheme !== 'argon2id' && scheme !== 'bcrypt' && scheme !== 'sha512-crypt') return console.error(USAGE), EXIT_USAGE;
    const password = await readStdin();
    if (password === '') return console.error('postern: no password on stdin'), EXIT_USAGE;
    return console.log(await hashPassword(password, scheme)), 0;
  }
  if (positionals.length > 0) return console.error(USAGE), EXIT_USAGE;

  const config = loadConfigFile(values.config ?? join(root, 'config', 'postern.toml'));
  if (values.check) {
    for (const warning of config.warnings) console.error(`warning: ${warning}`);
    for (const line of describe(config)) console.log(line);
    return 0;
  }

  const logger = createLogger();
  const postern = await startPostern(config, { logger });
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) process.exit(1); // a second signal means "now"
    stopping = true;
    logger.info({ event: 'shutdown', signal, graceMs: SHUTDOWN_GRACE_MS });
    void postern.close(SHUTDOWN_GRACE_MS).then(() => {
      logger.info({ event: 'stopped' });
      logger.flush(() => process.exit(0));
    });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return -1; // keep running
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ConfigError) {
      for (const problem of err.problems) console.error(formatProblem(problem));
      process.exitCode = EXIT_CONFIG;
      return;
    }
    // A startup fault (port in use, unreadable certificate…): one clear line, no stack trace.
    console.error(`postern: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
