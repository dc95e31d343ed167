// Every backend `session.auth.lookup` can name, built per config generation: "directory/<id>" memory
// directories and "remote/<id>" IMAP lookups. A lookup actor (its IMAP connections, queue and cache)
// outlives the generation that made it: a later generation whose [remote."<id>"] settings are unchanged
// takes the running actor over, so a reload keeps the cache. An actor closes once no generation uses it.
import { isDeepStrictEqual } from 'node:util';
import type { Config, RemoteConfig } from '../config/types.js';
import type { EventBus } from '../events.js';
import { LookupActor } from './imap/actor.js';
import { MemoryDirectory, type SecretChecker } from './memory/directory.js';
import type { Verifier } from './verdict.js';

interface ActorEntry {
  config: RemoteConfig;
  actor: LookupActor;
  /** Generations holding it. */
  users: number;
}

/** One generation's backends, keyed by lookup path. */
export interface DirectorySet {
  readonly byPath: ReadonlyMap<string, Verifier>;
  /** The generation is done with them: actors no later generation took over are closed. */
  release(): Promise<void>;
}

export class Directories {
  readonly #events: EventBus;
  /** The newest generation's actors, by remote id. */
  #current = new Map<string, ActorEntry>();
  /** Every actor still open, the current ones and those an older generation still holds. */
  readonly #open = new Set<ActorEntry>();

  constructor(events: EventBus) {
    this.#events = events;
  }

  /** Backends for `config`; memory directories check secrets on `pool` (the generation's). */
  open(config: Config, pool: SecretChecker): DirectorySet {
    const byPath = new Map<string, Verifier>();
    for (const directory of Object.values(config.directories)) {
      const memory = new MemoryDirectory(directory, pool);
      byPath.set(memory.path, memory);
    }
    const current = new Map<string, ActorEntry>();
    for (const remote of Object.values(config.remotes)) {
      if (!remote.lookup) continue; // only `lookup = true` makes a remote usable as remote/<id>
      const running = this.#current.get(remote.id);
      const entry = running !== undefined && isDeepStrictEqual(running.config, remote) ? running : this.#start(remote);
      entry.users += 1;
      current.set(remote.id, entry);
      byPath.set(entry.actor.path, entry.actor);
    }
    this.#current = current;
    const held = [...current.values()];
    let released = false;
    return {
      byPath,
      release: async () => {
        if (released) return;
        released = true;
        await Promise.all(held.map((entry) => this.#release(entry)));
      },
    };
  }

  /** The newest generation's remote lookups, for the metrics. */
  remotes(): Iterable<Verifier> {
    return [...this.#current.values()].map((entry) => entry.actor);
  }

  /** Closes every actor, held or not (shutdown). */
  async close(): Promise<void> {
    const all = [...this.#open];
    this.#open.clear();
    this.#current = new Map();
    await Promise.all(all.map((entry) => entry.actor.close()));
  }

  #start(config: RemoteConfig): ActorEntry {
    const entry: ActorEntry = { config, actor: new LookupActor(config, this.#events), users: 0 };
    this.#open.add(entry);
    return entry;
  }

  async #release(entry: ActorEntry): Promise<void> {
    entry.users -= 1;
    if (entry.users > 0 || this.#current.get(entry.config.id) === entry || !this.#open.delete(entry)) return;
    await entry.actor.close();
  }
}
