// "directory/<id>": the embedded memory directory. Password checks run in the worker pool.
import type { DirectoryConfig, DirectoryUser } from '../config/types.js';
import type { WorkerPool } from '../pool.js';
import type { Credentials } from '../sasl/types.js';
import { dummySecretLike } from './hash.js';
import type { Verdict, Verifier } from './verdict.js';

export class DirectoryVerifier implements Verifier {
  readonly #pool: WorkerPool;
  readonly #byName = new Map<string, DirectoryUser>();
  /** Keyed by the lowercased address: mail systems treat addresses case-insensitively in practice. */
  readonly #byEmail = new Map<string, DirectoryUser>();
  /** Checked for unknown users, so they cost the same time as a wrong password. */
  readonly #dummySecret: string;

  constructor(config: DirectoryConfig, pool: WorkerPool) {
    this.#pool = pool;
    // First declared wins when a name or address repeats.
    for (const user of config.users) {
      if (!this.#byName.has(user.name)) this.#byName.set(user.name, user);
      for (const email of user.email) {
        if (!this.#byEmail.has(email.toLowerCase())) this.#byEmail.set(email.toLowerCase(), user);
      }
    }
    this.#dummySecret = dummySecretLike(config.users.map((user) => user.secret));
  }

  async verify(credentials: Credentials): Promise<Verdict> {
    // The memory directory holds passwords only; bearer tokens need a remote (IMAP) lookup.
    if (credentials.kind === 'token') return { kind: 'bad' };
    const user = this.#byName.get(credentials.user) ?? this.#byEmail.get(credentials.user.toLowerCase());
    try {
      const match = await this.#pool.verifySecret(user?.secret ?? this.#dummySecret, credentials.password);
      return match && user !== undefined ? { kind: 'ok', user: user.name } : { kind: 'bad' };
    } catch (error) {
      return { kind: 'tempfail', reason: error instanceof Error ? error.message : 'password check failed' };
    }
  }

  async close(): Promise<void> {
    // Nothing of its own to release: the pool belongs to the server.
  }
}
