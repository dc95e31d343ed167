// Reads a TOML config into a validated Config, or throws ConfigError carrying every problem found.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parse, TomlError, type TomlTable } from 'smol-toml';
import { ConfigError, formatProblem, type ConfigProblem } from '../errors.js';
import { readAuthRules } from './auth.js';
import { readDirectories } from './directories.js';
import { formatKey } from './key-path.js';
import { readControlSocket, readServer } from './listeners.js';
import { ConfigReader } from './reader.js';
import { readRemotes } from './remotes.js';
import { PositionIndex } from './toml-positions.js';
import type { Config } from './types.js';

const DEFAULT_MAX_MESSAGE_SIZE = 104_857_600;

/** smol-toml's error, at its position; a redefined listener table is reported as the duplicate id it is. */
function syntaxProblem(err: TomlError, text: string, file: string): ConfigProblem {
  const header = new PositionIndex(text).headerOnLine(err.line);
  const duplicate = /redefine/.test(err.message) && header?.length === 3 && header[0] === 'server' && header[1] === 'listener';
  return {
    file,
    key: duplicate ? formatKey(header) : '',
    message: duplicate ? `duplicate listener id "${String(header[2])}"` : (err.message.split('\n')[0] ?? err.message),
    line: err.line,
    column: err.column,
  };
}

const byPosition = (a: ConfigProblem, b: ConfigProblem): number => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0);

function readerOf(text: string, file: string): ConfigReader {
  let root: TomlTable;
  try {
    // "__proto__"/"constructor" as ids would reach plain-object records: refuse them with a position.
    root = parse(text, { unsafeKeyBehaviour: 'throw' });
  } catch (err) {
    if (err instanceof TomlError) throw new ConfigError([syntaxProblem(err, text, file)]);
    throw err;
  }
  return new ConfigReader(root, file, new PositionIndex(text));
}

/** `file` names the source in messages (and Config.source). */
export function parseConfig(text: string, file: string): Config {
  const reader = readerOf(text, file);

  const server = readServer(reader);
  const remotes = readRemotes(reader);
  const directories = readDirectories(reader);
  const auth = readAuthRules(reader, new Set(server.listeners.map((l) => l.id)), { remotes, directories });
  const config: Config = {
    source: file,
    server: {
      hostname: server.hostname,
      greeting: server.greeting,
      controlSocket: server.controlSocket,
      workers: {
        threads: reader.integer(['server', 'workers', 'threads'], 1) ?? availableParallelism(),
        maxQueue: reader.integer(['server', 'workers', 'max-queue'], 0) ?? 1024,
      },
    },
    listeners: server.listeners,
    auth,
    rules: {},
    remotes,
    directories,
    queue: { path: reader.string(['queue', 'path']) ?? './data/queue' },
    data: { maxSize: reader.integer(['session', 'data', 'limits', 'size'], 1) ?? DEFAULT_MAX_MESSAGE_SIZE },
    warnings: [],
  };
  reader.warnUnread();
  if (reader.problems.length > 0) throw new ConfigError(reader.problems.sort(byPosition));
  config.warnings = reader.warnings.sort(byPosition).map(formatProblem);
  return config;
}

function readConfigText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([{ file: path, key: '', message: `cannot read the config file: ${(err as Error).message}` }]);
  }
}

export function loadConfigFile(path: string): Config {
  return parseConfig(readConfigText(path), path);
}

/**
 * Only `server.control-socket` of the file at `path`, for the commands to a running server: a problem
 * elsewhere in the file must not keep `postern reload` from reaching the server, which reports it.
 */
export function loadControlSocket(path: string): string | null {
  const reader = readerOf(readConfigText(path), path);
  const socket = readControlSocket(reader);
  if (reader.problems.length > 0) throw new ConfigError(reader.problems);
  return socket;
}
