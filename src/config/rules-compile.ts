// Compiles Stalwart's if-blocks ("a plain value, or [{if = VAR, OP = VALUE, then = V}, …, {else = V}]") into
// plain-data Rules, reporting every mistake Stalwart rejects, each at the key or element it concerns.
import { describeType, isTable } from './reader.js';
import { parseNetwork } from './ip.js';
import type { KeyPath } from './key-path.js';
import type { Condition, Network, Rule, Variable } from './types.js';

export interface RuleContext {
  /** Declared listener ids: `listener` conditions must name one. */
  listeners: ReadonlySet<string>;
  /** The variables known where this key is evaluated. */
  variables: readonly Variable[];
  error(path: KeyPath, message: string): void;
}

/** Parses one `then`/`else`/plain value, reporting its own problems; undefined when it had one. */
export type ValueParser<T> = (raw: unknown, path: KeyPath) => T | undefined;

const COMBINATORS = ['any-of', 'all-of', 'none-of'] as const;
type Combinator = (typeof COMBINATORS)[number];
type Match = 'eq' | 'in-list' | 'matches' | 'starts-with' | 'ends-with';
interface Operation {
  match: Match;
  negate: boolean;
}

const OPERATIONS = new Map<string, Operation>(Object.entries({
  eq: { match: 'eq', negate: false },
  'equal-to': { match: 'eq', negate: false },
  ne: { match: 'eq', negate: true },
  'not-equal-to': { match: 'eq', negate: true },
  'in-list': { match: 'in-list', negate: false },
  'not-in-list': { match: 'in-list', negate: true },
  matches: { match: 'matches', negate: false },
  'not-matches': { match: 'matches', negate: true },
  'starts-with': { match: 'starts-with', negate: false },
  'not-starts-with': { match: 'starts-with', negate: true },
  'ends-with': { match: 'ends-with', negate: false },
  'not-ends-with': { match: 'ends-with', negate: true },
} satisfies Record<string, Operation>));

const quoted = (names: readonly string[]): string => names.map((n) => `"${n}"`).join(', ');
const isCombinator = (key: string): key is Combinator => (COMBINATORS as readonly string[]).includes(key);

/** Rust-regex inline flags like "(?i)" at the start become JS flags (JS has no inline modifiers in Node 20). */
function splitRegex(source: string): { pattern: string; flags: string } {
  const inline = /^\(\?([ims]+)\)/.exec(source);
  return inline ? { pattern: source.slice(inline[0].length), flags: [...new Set(inline[1])].join('') } : { pattern: source, flags: '' };
}

function compileMatch(
  variable: Variable,
  op: string,
  { match, negate }: Operation,
  raw: unknown,
  path: KeyPath,
  ctx: RuleContext,
): Condition | undefined {
  if (variable === 'listener' && match !== 'eq') {
    ctx.error(path, `operation "${op}" is not available for "listener" (only eq/ne)`);
    return undefined;
  }
  if (match === 'in-list') {
    if (!Array.isArray(raw) || !raw.every((v): v is string => typeof v === 'string')) {
      ctx.error(path, `"${op}" takes a list of strings such as ["a", "b"] (named lists are not supported), got ${describeType(raw)}`);
      return undefined;
    }
    return { kind: 'in-list', variable, negate, values: raw };
  }
  if (typeof raw !== 'string') {
    ctx.error(path, `"${op}" takes a string, got ${describeType(raw)}`);
    return undefined;
  }
  switch (match) {
    case 'eq':
      if (variable === 'listener' && !ctx.listeners.has(raw)) {
        ctx.error(path, `listener "${raw}" does not exist (declared: ${quoted([...ctx.listeners]) || 'none'})`);
        return undefined;
      }
      if (variable === 'remote-ip' || variable === 'local-ip') {
        let network: Network;
        try {
          network = parseNetwork(raw);
        } catch (err) {
          ctx.error(path, (err as Error).message);
          return undefined;
        }
        return { kind: 'ip', variable, negate, networks: [network] };
      }
      return { kind: 'eq', variable, negate, value: raw };
    case 'matches': {
      const { pattern, flags } = splitRegex(raw);
      try {
        new RegExp(pattern, flags);
      } catch (err) {
        ctx.error(path, `invalid regular expression ${JSON.stringify(raw)}: ${(err as Error).message}`);
        return undefined;
      }
      return { kind: 'matches', variable, negate, pattern, flags };
    }
    default:
      return { kind: match, variable, negate, value: raw };
  }
}

/** One condition table: `{if = VAR, OP = VALUE}` or `{any-of|all-of|none-of = [conditions…]}`. */
function compileCondition(table: Record<string, unknown>, path: KeyPath, ctx: RuleContext, top: boolean): Condition | undefined {
  if (!top && 'then' in table) {
    ctx.error([...path, 'then'], `"then" belongs to the top-level 'if' element, not to a nested condition`);
    return undefined;
  }
  const ops = Object.keys(table).filter((k) => k !== 'if' && k !== 'then');
  const op = ops[0];
  if (op === undefined) {
    ctx.error(path, 'missing operation for condition (eq, ne, in-list, matches, starts-with, ends-with, any-of, all-of or none-of)');
    return undefined;
  }
  if (ops.length > 1) {
    ctx.error([...path, ops[1] ?? op], `more than one operation in a condition: ${quoted(ops)}`);
    return undefined;
  }
  const value = table[op];
  const opPath = [...path, op];

  if (isCombinator(op)) {
    if ('if' in table) ctx.error([...path, 'if'], `"if" cannot be combined with "${op}"; put it inside the list`);
    if (!Array.isArray(value) || value.length === 0 || !value.every(isTable)) {
      ctx.error(opPath, `"${op}" takes a non-empty list of conditions, got ${describeType(value)}`);
      return undefined;
    }
    const conditions = value.map((c, i) => compileCondition(c, [...opPath, i], ctx, false));
    if ('if' in table || conditions.some((c) => c === undefined)) return undefined;
    return { kind: op, conditions: conditions as Condition[] };
  }

  const operation = OPERATIONS.get(op);
  if (operation === undefined) ctx.error(opPath, `unknown operation "${op}"`);
  const variable = table.if;
  if (variable === undefined) {
    ctx.error(path, `missing "if" (the variable to test: ${quoted(ctx.variables)})`);
    return undefined;
  }
  if (typeof variable !== 'string' || !(ctx.variables as readonly string[]).includes(variable)) {
    ctx.error([...path, 'if'], `unknown variable ${JSON.stringify(variable)} (available here: ${quoted(ctx.variables)})`);
    return undefined;
  }
  return operation === undefined ? undefined : compileMatch(variable as Variable, op, operation, value, opPath, ctx);
}

/** A plain value, or an if-block (an array holding tables). Undefined when anything in it was wrong. */
export function compileRule<T>(raw: unknown, path: KeyPath, ctx: RuleContext, parse: ValueParser<T>): Rule<T> | undefined {
  if (!Array.isArray(raw) || !raw.some(isTable)) {
    const value = parse(raw, path);
    return value === undefined ? undefined : { branches: [], otherwise: value };
  }

  const branches: Rule<T>['branches'] = [];
  let otherwise: T | undefined;
  let anyIf = false;
  /** Any `else`, even a misplaced one (so "missing 'else'" isn't said too). */
  let anyElse = false;
  /** A well-placed `else`: whatever follows it is an error. */
  let closed = false;
  let ok = true;
  const fail = (at: KeyPath, message: string): void => {
    ctx.error(at, message);
    ok = false;
  };

  raw.forEach((element: unknown, index) => {
    const at = [...path, index];
    if (!isTable(element)) return fail(at, `expected {if = …, then = …} or {else = …} in an 'if' block, got ${describeType(element)}`);
    const keys = Object.keys(element);
    if ('else' in element) {
      if (anyElse) return fail(at, "multiple 'else' found");
      anyElse = true;
      const extra = keys.find((k) => k !== 'else' && k !== 'then');
      if (extra !== undefined) return fail([...at, extra], `'else' must be alone in its element, found "${extra}" with it`);
      if (!anyIf) return fail(at, "found 'else' before 'if'");
      if ('then' in element) fail([...at, 'then'], "found 'then' in 'else' block");
      closed = true;
      otherwise = parse(element.else, [...at, 'else']);
      if (otherwise === undefined) ok = false;
      return;
    }
    if (closed) return fail(at, "'if' after 'else': the 'else' element must come last");
    if (keys.length === 1 && keys[0] === 'then') return fail(at, "found 'then' without 'if'");
    anyIf = true;
    const when = compileCondition(element, at, ctx, true);
    let then: T | undefined;
    if (!('then' in element)) fail(at, `missing 'then' in 'if' condition ${index + 1}`);
    else then = parse(element.then, [...at, 'then']);
    if (when === undefined || then === undefined) ok = false;
    else branches.push({ when, then });
  });

  if (!anyElse) fail(path, "missing 'else' (add { else = … } as the last element)");
  return ok && otherwise !== undefined ? { branches, otherwise } : undefined;
}
