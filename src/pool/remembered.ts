// Rule results remembered per distinct input. A rule is a pure function of the variables it tests:
// two evaluations that agree on those (for the seed's rules, just `listener`) get the same value, so
// the pool is asked once per distinct combination instead of once per session or message.
import { ruleUses } from '../config/rules.js';
import type { NamedRules, Rule, Variable, Vars } from '../config/types.js';

/** Distinct inputs kept per rule when it tests per-client values; the oldest is dropped beyond this. */
const MAX_REMEMBERED = 4096;

const ALL_VARIABLES: readonly Variable[] = [
  'listener', 'remote-ip', 'local-ip', 'helo-domain', 'authenticated-as', 'sender', 'sender-domain', 'rcpt', 'rcpt-domain',
];

/** Which of `candidates` any of `rules` tests. */
export function variablesUsed(rules: readonly Rule<unknown>[], candidates: readonly Variable[] = ALL_VARIABLES): Variable[] {
  return candidates.filter((v) => rules.some((rule) => ruleUses(rule, v)));
}

export class Remembered<T> {
  readonly #variables: readonly Variable[];
  readonly #compute: (vars: Vars) => Promise<T>;
  readonly #values = new Map<string, Promise<T>>();

  constructor(variables: readonly Variable[], compute: (vars: Vars) => Promise<T>) {
    this.#variables = variables;
    this.#compute = compute;
  }

  get(vars: Vars): Promise<T> {
    const key = this.#variables.map((v) => vars[v] ?? '').join('\0');
    let value = this.#values.get(key);
    if (value === undefined) {
      value = this.#compute(vars);
      const entry = value;
      // A refused task (pool full) is not an answer: forget it so the next caller asks again.
      entry.catch(() => this.#values.get(key) === entry && this.#values.delete(key));
      if (this.#values.size >= MAX_REMEMBERED) this.#values.delete(this.#values.keys().next().value as string);
      this.#values.set(key, entry);
    }
    return value;
  }
}

/** What the evaluator needs of the pool. */
export interface RuleRunner {
  evaluate(name: string, vars: Vars): Promise<unknown>;
}

/** The config's named rules (NamedRules), evaluated in the pool and remembered per distinct input. */
export class RuleEvaluator {
  readonly #byName = new Map<string, Remembered<unknown>>();

  constructor(pool: RuleRunner, rules: NamedRules) {
    for (const [name, rule] of Object.entries(rules)) {
      this.#byName.set(name, new Remembered(variablesUsed([rule]), (vars) => pool.evaluate(name, vars)));
    }
  }

  /** The value of rule `name` for `vars`; the caller knows its type (the config reader compiled it). */
  evaluate<T>(name: string, vars: Vars): Promise<T> {
    const rule = this.#byName.get(name);
    if (rule === undefined) return Promise.reject(new Error(`no rule "${name}" in this config`));
    return rule.get(vars) as Promise<T>;
  }
}
