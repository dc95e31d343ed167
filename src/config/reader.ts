// Typed access to the parsed TOML tree that remembers what was read (unread keys become "unknown key"
// warnings, so typos show) and collects every problem with its position instead of stopping at the first.
import { TomlDate, type TomlTable } from 'smol-toml';
import type { ConfigProblem } from '../errors.js';
import { parseDuration } from './duration.js';
import { formatKey, pathId, type KeyPath } from './key-path.js';
import type { PositionIndex } from './toml-positions.js';
import type { Duration } from './types.js';

export function isTable(value: unknown): value is TomlTable {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof TomlDate);
}

/** For messages: "a string", "an array", … */
export function describeType(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (isTable(value)) return 'a table';
  if (value instanceof TomlDate) return 'a date';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a float';
  return `a ${typeof value}`;
}

export class ConfigReader {
  readonly problems: ConfigProblem[] = [];
  readonly warnings: ConfigProblem[] = [];
  private readonly consumed = new Set<string>();

  constructor(
    private readonly root: TomlTable,
    readonly file: string,
    private readonly positions: PositionIndex,
  ) {}

  private problem(path: KeyPath, message: string): ConfigProblem {
    const at = this.positions.at(path);
    return { file: this.file, key: formatKey(path), message, ...(at && { line: at.line, column: at.column }) };
  }

  error(path: KeyPath, message: string): void {
    this.problems.push(this.problem(path, message));
  }

  warn(path: KeyPath, message: string): void {
    this.warnings.push(this.problem(path, message));
  }

  /** The value at `path` without marking it read. */
  peek(path: KeyPath): unknown {
    let node: unknown = this.root;
    for (const key of path) {
      if ((typeof key === 'number' ? !Array.isArray(node) : !isTable(node)) || !Object.hasOwn(node as object, key)) return undefined;
      node = (node as Record<string | number, unknown>)[key];
    }
    return node;
  }

  /** The value at `path`, marking it and everything under it as read. */
  take(path: KeyPath): unknown {
    this.consumed.add(pathId(path));
    return this.peek(path);
  }

  /** Keys of the table at `path` ([] when absent; an error when it isn't a table). Marks nothing read. */
  tableKeys(path: KeyPath): string[] {
    const node = this.peek(path);
    if (node === undefined) return [];
    if (!isTable(node)) {
      this.take(path);
      this.error(path, `expected a table, got ${describeType(node)}`);
      return [];
    }
    return Object.keys(node);
  }

  /** Checks a raw value (as `take` returns it), reporting at `path`; undefined when absent or wrong. */
  asString(raw: unknown, path: KeyPath): string | undefined {
    if (typeof raw === 'string' || raw === undefined) return raw;
    this.error(path, `expected a string, got ${describeType(raw)}`);
    return undefined;
  }

  asBoolean(raw: unknown, path: KeyPath): boolean | undefined {
    if (typeof raw === 'boolean' || raw === undefined) return raw;
    this.error(path, `expected true or false, got ${describeType(raw)}`);
    return undefined;
  }

  /** An integer in [min, max]. */
  asInteger(raw: unknown, path: KeyPath, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
    if (raw === undefined) return undefined;
    if (typeof raw === 'number' && Number.isInteger(raw) && raw >= min && raw <= max) return raw;
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
    this.error(path, `expected an integer ${range}, got ${typeof raw === 'number' ? raw : describeType(raw)}`);
    return undefined;
  }

  asDuration(raw: unknown, path: KeyPath): Duration | undefined {
    if (raw === undefined) return undefined;
    try {
      if (typeof raw === 'string' || typeof raw === 'number') return parseDuration(raw);
      this.error(path, `expected a duration such as "5s", got ${describeType(raw)}`);
    } catch (err) {
      this.error(path, (err as Error).message);
    }
    return undefined;
  }

  string(path: KeyPath): string | undefined {
    return this.asString(this.take(path), path);
  }

  boolean(path: KeyPath): boolean | undefined {
    return this.asBoolean(this.take(path), path);
  }

  integer(path: KeyPath, min: number, max?: number): number | undefined {
    return this.asInteger(this.take(path), path, min, max);
  }

  duration(path: KeyPath): Duration | undefined {
    return this.asDuration(this.take(path), path);
  }

  /** A string or a list of strings. */
  stringList(path: KeyPath): string[] | undefined {
    const value = this.take(path);
    if (value === undefined) return undefined;
    const list = Array.isArray(value) ? value : [value];
    const bad = list.findIndex((v) => typeof v !== 'string');
    if (bad >= 0) {
      this.error(Array.isArray(value) ? [...path, bad] : path, `expected a string or a list of strings, got ${describeType(list[bad])}`);
      return undefined;
    }
    return list as string[];
  }

  /** One "unknown key" warning per unread subtree: for the highest key under which nothing was read. */
  warnUnread(): void {
    const ids = [...this.consumed];
    const walk = (node: unknown, path: KeyPath): void => {
      const id = pathId(path);
      if (this.consumed.has(id)) return;
      if (path.length > 0 && !ids.some((c) => c.startsWith(`${id}\u0000`))) {
        this.warn(path, 'unknown key (nothing reads it; a typo?)');
        return;
      }
      if (isTable(node)) for (const [key, child] of Object.entries(node)) walk(child, [...path, key]);
      else if (Array.isArray(node)) node.forEach((child, index) => walk(child, [...path, index]));
    };
    walk(this.root, []);
  }
}
