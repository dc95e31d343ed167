// "directory/<id>": the embedded memory directory. Password checks run in the worker pool.
import type { DirectoryConfig, DirectoryUser } from '../../config/types.js';
import type { Credentials } from '../../sasl/types.js';
import type { LookupStats, Verdict, Verifier } from '../verdict.js';
import { dummySecretLike } from './hash.js';

/** What the directory needs of the worker pool (src/pool/pool.ts). */
export interface SecretChecker {
  verifySecret(secret: string, password: string): Promise<boolean>;
}

export class MemoryDirectory implements Verifier {
  readonly path: string;
  readonly #pool: SecretChecker;
  readonly #byName = new Map<string, DirectoryUser>();
  /** Keyed by the lowercased address: mail systems treat addresses case-insensitively in practice. */
  readonly #byEmail = new Map<string, DirectoryUser>();
  /** Checked for unknown users, so they cost the same time as a wrong password. */
  readonly #dummySecret: string;

  constructor(config: DirectoryConfig, pool: SecretChecker) {
    this.path = `directory/${config.id}`;
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

  stats(): LookupStats | null {
    return null;
  }

  async close(): Promise<void> {
    // Nothing of its own to release: the pool belongs to the generation.
  }
}
