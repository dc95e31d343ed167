#!/usr/bin/env node
// The CLI: run the server, check a config, hash a password for the config, or send a command to the
// running server over its control socket.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { describeConfig } from './check.js';
import { CONTROL_COMMANDS, findCommand, runControlCommand } from './control.js';
import { runServer } from './run.js';
import { loadConfigFile, loadControlSocket } from '../config/load.js';
import { ControlUnavailable } from '../control/client.js';
import { hashPassword } from '../directory/memory/hash.js';
import { ConfigError, formatProblem } from '../errors.js';
import { packageRoot, VERSION } from '../version.js';

const EXIT_CONFIG = 2;
const EXIT_UNAVAILABLE = 69; // sysexits EX_UNAVAILABLE: no server to talk to
const EXIT_USAGE = 64;

const USAGE = `usage: postern [--config FILE] [--check]
       postern hash-password [--scheme argon2id|bcrypt|sha512-crypt]   (reads the password from stdin)
       postern [--config FILE] <command> [--json]   (to the running server: ${[...CONTROL_COMMANDS.keys()].join(', ')})
       postern --version`;

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
      json: { type: 'boolean' },
      all: { type: 'boolean' },
      remote: { type: 'string' },
      user: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return console.log(USAGE), 0;
  if (values.version) return console.log(`postern ${VERSION}`), 0;
  if (positionals[0] === 'hash-password') {
    const scheme = values.scheme ?? 'argon2id';
    if (scheme !== 'argon2id' && scheme !== 'bcrypt' && scheme !== 'sha512-crypt') return console.error(USAGE), EXIT_USAGE;
    const password = await readStdin();
    if (password === '') return console.error('postern: no password on stdin'), EXIT_USAGE;
    return console.log(await hashPassword(password, scheme)), 0;
  }

  const file = values.config ?? join(packageRoot(), 'config', 'postern.toml');
  if (positionals.length > 0) {
    const found = findCommand(positionals);
    if (found === undefined) return console.error(`postern: unknown command "${positionals.join(' ')}"\n${USAGE}`), EXIT_USAGE;
    const socket = loadControlSocket(file);
    if (socket === null) {
      return console.error(`postern: ${file} has server.control-socket = false: no commands can reach the server`), EXIT_UNAVAILABLE;
    }
    try {
      const { lines, failed } = await runControlCommand(socket, found, values);
      // A failure's text goes to stderr; its JSON to stdout all the same, for the program reading it.
      for (const line of lines) (failed && values.json !== true ? console.error : console.log)(line);
      return failed ? 1 : 0;
    } catch (err) {
      console.error(`postern: ${(err as Error).message}`);
      return err instanceof ControlUnavailable ? EXIT_UNAVAILABLE : 1;
    }
  }
  const config = loadConfigFile(file);
  if (values.check) {
    for (const warning of config.warnings) console.error(`warning: ${warning}`);
    for (const line of describeConfig(config)) console.log(line);
    return 0;
  }
  await runServer(config);
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
