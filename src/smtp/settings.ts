// Per-session auth settings, resolved in the worker pool and remembered per distinct input.
// The rules are pure functions of the variables they test: two sessions that agree on those
// variables (for the seed's rules, just `listener`) get the same settings, so the pool is asked
// once per distinct combination instead of once per connection.
import { ruleUses } from '../config/rules.js';
import type { AuthRules, SessionAuthSettings, SessionVars, Variable } from '../config/types.js';
import type { SessionPool, SettingsSource } from './session.js';

/** Distinct remote-ip values kept when rules test them; the oldest is dropped beyond this. */
const MAX_REMEMBERED = 4096;
/** helo-domain is empty at connect, so it never splits the key. */
const CONNECT_VARIABLES: Variable[] = ['listener', 'remote-ip', 'local-ip'];

export class SettingsResolver implements SettingsSource {
  readonly #pool: Pick<SessionPool, 'resolveSession'>;
  readonly #keyVariables: Variable[];
  readonly #remembered = new Map<string, Promise<SessionAuthSettings>>();

  constructor(pool: Pick<SessionPool, 'resolveSession'>, rules: AuthRules) {
    this.#pool = pool;
    const all = Object.values(rules);
    this.#keyVariables = CONNECT_VARIABLES.filter((v) => all.some((rule) => ruleUses(rule, v)));
  }

  resolve(vars: SessionVars): Promise<SessionAuthSettings> {
    const key = this.#keyVariables.map((v) => vars[v]).join('\0');
    let settings = this.#remembered.get(key);
    if (settings === undefined) {
      settings = this.#pool.resolveSession(vars);
      const entry = settings;
      // A refused task (pool full) is not an answer: forget it so the next session asks again.
      entry.catch(() => this.#remembered.get(key) === entry && this.#remembered.delete(key));
      if (this.#remembered.size >= MAX_REMEMBERED) this.#remembered.delete(this.#remembered.keys().next().value as string);
      this.#remembered.set(key, entry);
    }
    return settings;
  }
}
