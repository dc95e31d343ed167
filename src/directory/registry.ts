// Every backend `session.auth.lookup` can name, built per config generation: "directory/<id>" memory
// directories and "remote/<id>" IMAP lookups. A lookup actor (its IMAP connections, queue and cache)
// outlives the generation that made it: a later generation whose [remote."<id>"] settings are unchanged
// takes the running actor over, so a reload keeps the cache. An actor closes once no generation holds it.
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
  /** Every actor still open: each is held by at least one generation. */
  readonly #open = new Set<ActorEntry>();
  /** Each open generation's actors, in the order they were opened: the last is the newest's. */
  readonly #held: ActorEntry[][] = [];

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
    const held: ActorEntry[] = [];
    for (const remote of Object.values(config.remotes)) {
      if (!remote.lookup) continue; // only `lookup = true` makes a remote usable as remote/<id>
      // Any open actor with these exact settings, not only the newest generation's: a generation that
      // was built and then dropped (a reload refused after its build) must not cost the cache.
      const entry = [...this.#open].find((e) => isDeepStrictEqual(e.config, remote)) ?? this.#start(remote);
      entry.users += 1;
      held.push(entry);
      byPath.set(entry.actor.path, entry.actor);
    }
    this.#held.push(held);
    let released = false;
    return {
      byPath,
      release: async () => {
        if (released) return;
        released = true;
        this.#held.splice(this.#held.indexOf(held), 1);
        await Promise.all(held.map((entry) => this.#release(entry)));
      },
    };
  }

  /** The newest generation's remote lookups, for the metrics. */
  remotes(): Iterable<Verifier> {
    return (this.#held.at(-1) ?? []).map((entry) => entry.actor);
  }

  /** Closes every actor, held or not (shutdown). */
  async close(): Promise<void> {
    const all = [...this.#open];
    this.#open.clear();
    this.#held.length = 0;
    await Promise.all(all.map((entry) => entry.actor.close()));
  }

  #start(config: RemoteConfig): ActorEntry {
    const entry: ActorEntry = { config, actor: new LookupActor(config, this.#events), users: 0 };
    this.#open.add(entry);
    return entry;
  }

  async #release(entry: ActorEntry): Promise<void> {
    entry.users -= 1;
    if (entry.users > 0 || !this.#open.delete(entry)) return;
    await entry.actor.close();
  }
}
