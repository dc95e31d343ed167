// [session.auth]: every key is rule-capable (a plain value or an if-block), compiled with the contract's defaults.
import { MECHANISMS, type Mechanism } from '../sasl/types.js';
import type { KeyPath } from './key-path.js';
import { describeType, type ConfigReader } from './reader.js';
import { compileRule, type ValueParser } from './rules-compile.js';
import { SESSION_VARIABLES, type AuthRules, type DirectoryConfig, type RemoteConfig, type Rule } from './types.js';

/** Stalwart's spellings of "none" for optional values. */
const NONE_WORDS = new Set(['', 'false', 'disable', 'disabled', 'never']);

const plain = <T>(value: T): Rule<T> => ({ branches: [], otherwise: value });

export interface LookupTargets {
  remotes: Record<string, RemoteConfig>;
  directories: Record<string, DirectoryConfig>;
}

/** Why `name` can't serve as a lookup, or undefined when it can. */
function lookupProblem(name: string, { remotes, directories }: LookupTargets): string | undefined {
  const [kind, id = ''] = name.split(/\/(.*)/s);
  if (kind === 'remote') {
    const remote = Object.hasOwn(remotes, id) ? remotes[id] : undefined;
    if (remote === undefined) return `no [remote."${id}"] is declared`;
    return remote.lookup ? undefined : `[remote."${id}"] needs lookup = true to be used for authentication`;
  }
  if (kind === 'directory') return Object.hasOwn(directories, id) ? undefined : `no [directory."${id}"] is declared`;
  return 'expected "remote/<id>", "directory/<id>" or false';
}

export function readAuthRules(reader: ConfigReader, listeners: ReadonlySet<string>, targets: LookupTargets): AuthRules {
  const ctx = { listeners, variables: SESSION_VARIABLES, error: (path: KeyPath, message: string) => reader.error(path, message) };
  const rule = <T>(path: KeyPath, parse: ValueParser<T>, fallback: T): Rule<T> => {
    const raw = reader.take(path);
    return (raw === undefined ? undefined : compileRule(raw, path, ctx, parse)) ?? plain(fallback);
  };

  const mechanisms: ValueParser<Mechanism[]> = (raw, path) => {
    const list = Array.isArray(raw) ? raw : [raw];
    const found = new Set<Mechanism>();
    let ok = true;
    list.forEach((item: unknown, i) => {
      const name = typeof item === 'string' ? item.toUpperCase() : '';
      const mechanism = MECHANISMS.find((m) => m === name);
      if (mechanism !== undefined) return found.add(mechanism);
      ok = false;
      const shown = typeof item === 'string' ? `"${item}"` : describeType(item);
      reader.error(Array.isArray(raw) ? [...path, i] : path, `unknown mechanism ${shown} (supported: ${MECHANISMS.join(', ')})`);
    });
    return ok ? [...found] : undefined;
  };

  const lookup: ValueParser<string | null> = (raw, path) => {
    if (raw === false || raw === 0 || (typeof raw === 'string' && NONE_WORDS.has(raw.toLowerCase()))) return null;
    if (typeof raw !== 'string') {
      reader.error(path, `expected "remote/<id>", "directory/<id>" or false, got ${describeType(raw)}`);
      return undefined;
    }
    const problem = lookupProblem(raw, targets);
    if (problem === undefined) return raw;
    reader.error(path, `unknown lookup "${raw}": ${problem}`);
    return undefined;
  };

  const at = (...keys: string[]): KeyPath => ['session', 'auth', ...keys];
  // Stalwart's code reads errors.max while its docs say errors.total: accept both, prefer the documented one.
  const hasTotal = reader.peek(at('errors', 'total')) !== undefined;
  if (hasTotal && reader.peek(at('errors', 'max')) !== undefined) {
    reader.take(at('errors', 'max'));
    reader.warn(at('errors', 'max'), 'ignored: errors.total is set (errors.max is its old name)');
  }
  return {
    mechanisms: rule(at('mechanisms'), mechanisms, []),
    lookup: rule(at('lookup'), lookup, null),
    require: rule(at('require'), (raw, path) => reader.asBoolean(raw, path), false),
    errorsTotal: rule(at('errors', hasTotal ? 'total' : 'max'), (raw, path) => reader.asInteger(raw, path, 1), 3),
    errorsWait: rule(at('errors', 'wait'), (raw, path) => reader.asDuration(raw, path), 30_000),
  };
}
