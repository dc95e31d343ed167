// Per-session auth settings, resolved in the worker pool and remembered per distinct input of the
// rules (src/pool/remembered.ts): for the seed's rules the pool is asked once per listener.
import type { AuthRules, SessionAuthSettings, SessionVars, Variable } from '../config/types.js';
import { Remembered, variablesUsed } from '../pool/remembered.js';
import type { SessionPool, SettingsSource } from './session.js';

/** helo-domain is empty at connect, so it never splits the key. */
const CONNECT_VARIABLES: readonly Variable[] = ['listener', 'remote-ip', 'local-ip'];

export class SettingsResolver implements SettingsSource {
  readonly #remembered: Remembered<SessionAuthSettings>;

  constructor(pool: Pick<SessionPool, 'resolveSession'>, rules: AuthRules) {
    const used = variablesUsed(Object.values(rules), CONNECT_VARIABLES);
    this.#remembered = new Remembered(used, (vars) => pool.resolveSession(vars as SessionVars));
  }

  resolve(vars: SessionVars): Promise<SessionAuthSettings> {
    return this.#remembered.get(vars);
  }
}
