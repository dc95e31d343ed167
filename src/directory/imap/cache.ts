// The lookup actor's memory: positive and negative LRUs keyed by an HMAC of the credentials, never the plaintext.
import { createHmac, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Duration } from '../../config/types.js';
import type { Credentials } from '../../sasl/types.js';
import type { Verdict } from '../verdict.js';

export type Polarity = 'positive' | 'negative';

/** What the cache can answer: only definite verdicts. Tempfails are never cached. */
export type CachedVerdict = Extract<Verdict, { kind: 'ok' } | { kind: 'bad' }>;

export interface CacheOptions {
  /** Most entries per polarity; 0 disables caching. */
  entries: number;
  positiveTtl: Duration;
  negativeTtl: Duration;
  /** Called when an entry is pushed out because its LRU is full (not on expiry or replacement). */
  onEvict?: (polarity: Polarity) => void;
  /**
   * Where TTLs read the time (ms), for tests; performance.now() when absent. Must never read 0:
   * lru-cache takes an entry stored at 0 as one without a TTL.
   */
  clock?: { now(): number };
}

/**
 * The cache key of a credential check. PLAIN and LOGIN carry the same password and get the same IMAP
 * check, so they share a key; each token mechanism has its own, as it is checked by its own mechanism.
 */
function checkKind(credentials: Credentials): string {
  return credentials.kind === 'password' ? 'password' : credentials.mechanism;
}

export class VerdictCache {
  /** Per-process: keys mean nothing outside this process and cannot be precomputed by anyone. */
  readonly #hmacKey = randomBytes(32);
  readonly #positive: LRUCache<string, { user: string }> | null;
  readonly #negative: LRUCache<string, true> | null;

  constructor(options: CacheOptions) {
    const make = <V extends {}>(polarity: Polarity, ttl: Duration): LRUCache<string, V> =>
      new LRUCache<string, V>({
        max: options.entries,
        ttl,
        // ttlResolution 0: lru-cache would otherwise reuse a reading for 1 ms of real time, past a fake clock's jump.
        ...(options.clock === undefined ? {} : { perf: options.clock, ttlResolution: 0 }),
        dispose: (_value, _key, reason) => {
          if (reason === 'evict') options.onEvict?.(polarity);
        },
      });
    this.#positive = options.entries > 0 ? make('positive', options.positiveTtl) : null;
    this.#negative = options.entries > 0 ? make('negative', options.negativeTtl) : null;
  }

  /** HMAC-SHA256 over length-prefixed (kind, user, secret): no two field splits give the same input. */
  key(credentials: Credentials): string {
    const secret = credentials.kind === 'password' ? credentials.password : credentials.token;
    const hmac = createHmac('sha256', this.#hmacKey);
    for (const field of [checkKind(credentials), credentials.user, secret]) {
      const bytes = Buffer.from(field, 'utf8');
      const length = Buffer.alloc(4);
      length.writeUInt32BE(bytes.length);
      hmac.update(length).update(bytes);
    }
    return hmac.digest('base64url');
  }

  get(key: string): { verdict: CachedVerdict; polarity: Polarity } | undefined {
    const positive = this.#positive?.get(key);
    if (positive !== undefined) return { verdict: { kind: 'ok', user: positive.user }, polarity: 'positive' };
    if (this.#negative?.get(key) !== undefined) return { verdict: { kind: 'bad' }, polarity: 'negative' };
    return undefined;
  }

  /** Remembers a definite verdict (replacing one of the other polarity); ignores tempfails. */
  set(key: string, verdict: Verdict): void {
    switch (verdict.kind) {
      case 'ok':
        this.#negative?.delete(key);
        this.#positive?.set(key, { user: verdict.user });
        break;
      case 'bad':
        this.#positive?.delete(key);
        this.#negative?.set(key, true);
        break;
      case 'tempfail':
        break;
    }
  }

  size(): { positive: number; negative: number } {
    return { positive: this.#positive?.size ?? 0, negative: this.#negative?.size ?? 0 };
  }
}
