// Builds every verifier `session.auth.lookup` can name: "directory/<id>" and "remote/<id>".
import type { Config } from '../config/types.js';
import type { EventBus } from '../events.js';
import { LookupActor } from '../lookup/actor.js';
import type { WorkerPool } from '../pool.js';
import { DirectoryVerifier } from './directory.js';
import type { Verifier } from './verdict.js';

export interface Verifiers {
  byPath: Map<string, Verifier>;
  /** The lookup actors, by remote id (for metrics). */
  remotes: Map<string, LookupActor>;
}

export function createVerifiers(config: Config, pool: WorkerPool, events: EventBus): Verifiers {
  const byPath = new Map<string, Verifier>();
  const remotes = new Map<string, LookupActor>();
  for (const directory of Object.values(config.directories)) {
    byPath.set(`directory/${directory.id}`, new DirectoryVerifier(directory, pool));
  }
  for (const remote of Object.values(config.remotes)) {
    if (!remote.lookup) continue; // only `lookup = true` makes a remote usable as remote/<id>
    const actor = new LookupActor(remote, events);
    remotes.set(remote.id, actor);
    byPath.set(`remote/${remote.id}`, actor);
  }
  return { byPath, remotes };
}
