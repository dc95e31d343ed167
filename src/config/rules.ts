// Rule evaluation. Runs inside Piscina workers on structured-cloned rules, so: pure, plain data in and out.
import { inNetwork, parseIp } from './ip.js';
import type { AuthRules, Condition, Rule, SessionAuthSettings, Variable, Vars } from './types.js';

/** Compiled once per pattern per worker; rules arrive as plain strings because RegExp doesn't clone well. */
const regexCache = new Map<string, RegExp>();

function regex(pattern: string, flags: string): RegExp {
  const key = `${flags}/${pattern}`;
  let compiled = regexCache.get(key);
  if (compiled === undefined) {
    compiled = new RegExp(pattern, flags);
    regexCache.set(key, compiled);
  }
  return compiled;
}

function test(condition: Condition, vars: Vars): boolean {
  switch (condition.kind) {
    case 'any-of':
      return condition.conditions.some((c) => test(c, vars));
    case 'all-of':
      return condition.conditions.every((c) => test(c, vars));
    case 'none-of':
      return !condition.conditions.some((c) => test(c, vars));
    default:
      return matches(condition, vars[condition.variable] ?? '') !== condition.negate;
  }
}

function matches(condition: Exclude<Condition, { kind: 'any-of' | 'all-of' | 'none-of' }>, value: string): boolean {
  switch (condition.kind) {
    case 'ip': {
      const address = parseIp(value);
      return address !== null && condition.networks.some((n) => inNetwork(n, address));
    }
    case 'eq':
      return value === condition.value;
    case 'in-list':
      return condition.values.includes(value);
    case 'starts-with':
      return value.startsWith(condition.value);
    case 'ends-with':
      return value.endsWith(condition.value);
    case 'matches':
      return regex(condition.pattern, condition.flags).test(value);
  }
}

/** First matching branch wins, else the rule's `else` value. */
export function evaluate<T>(rule: Rule<T>, vars: Vars): T {
  for (const branch of rule.branches) {
    if (test(branch.when, vars)) return branch.then;
  }
  return rule.otherwise;
}

export function resolveAuthSettings(rules: AuthRules, vars: Vars): SessionAuthSettings {
  return {
    mechanisms: evaluate(rules.mechanisms, vars),
    lookup: evaluate(rules.lookup, vars),
    require: evaluate(rules.require, vars),
    errorsTotal: evaluate(rules.errorsTotal, vars),
    errorsWait: evaluate(rules.errorsWait, vars),
  };
}

function conditionUses(condition: Condition, variable: Variable): boolean {
  switch (condition.kind) {
    case 'any-of':
    case 'all-of':
    case 'none-of':
      return condition.conditions.some((c) => conditionUses(c, variable));
    default:
      return condition.variable === variable;
  }
}

/** Whether a rule's value can depend on `variable` (a plain value depends on nothing). */
export function ruleUses<T>(rule: Rule<T>, variable: Variable): boolean {
  return rule.branches.some((branch) => conditionUses(branch.when, variable));
}
