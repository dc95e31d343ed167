// "remote/<id>": the one owner of a remote's IMAP checks and cache. Requests are answered from the
// cache, joined to an identical check in flight, started while fewer than `concurrency` are open, or
// queued FIFO (bounded). It runs on the main thread: checks are network waits, not CPU, and a worker
// would add a thread hop per check and a second copy of the cache. Its mailbox is the event loop:
// every state change below is synchronous, so no two requests ever interleave inside one.
import { createSecureContext, type SecureContext } from 'node:tls';
import type { ClientInfo, LookupStats, Verdict, Verifier } from '../verdict.js';
import type { RemoteConfig } from '../../config/types.js';
import type { EventBus } from '../../events.js';
import type { Credentials } from '../../sasl/types.js';
import { VerdictCache } from './cache.js';
import { startCheck } from './imap.js';

export interface LookupActorOptions {
  /** Most requests waiting for a free connection; beyond it requests tempfail at once. */
  maxQueue?: number;
  /** The cache's clock (tests); the real one by default. */
  clock?: { now(): number };
}

/** One pending check, shared by every identical request that arrives before it ends. */
interface Job {
  key: string;
  credentials: Credentials;
  /** The first requester; joiners share its check. */
  client: ClientInfo | undefined;
  verdict: Promise<Verdict>;
  settle: (verdict: Verdict) => void;
  /** While queued: answers 454 once the job has waited `timeout` for a connection. */
  expiry?: NodeJS.Timeout;
}

const DEFAULT_MAX_QUEUE = 1000;

export class LookupActor implements Verifier {
  readonly path: string;
  readonly #remote: RemoteConfig;
  readonly #events: EventBus;
  readonly #maxQueue: number;
  readonly #cache: VerdictCache;
  /** Node's defaults (system CAs); verification and the name are per connection (`allow-invalid-certs`, `address`). */
  readonly #tls: SecureContext = createSecureContext();
  /** Queued or running checks by cache key: single-flight. */
  readonly #pending = new Map<string, Job>();
  readonly #queue: Job[] = [];
  readonly #running = new Set<Promise<void>>();
  #closed = false;

  constructor(config: RemoteConfig, events: EventBus, options: LookupActorOptions = {}) {
    this.path = `remote/${config.id}`;
    this.#remote = config;
    this.#events = events;
    this.#maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE;
    this.#cache = new VerdictCache({
      entries: config.cache.entries,
      positiveTtl: config.cache.positiveTtl,
      negativeTtl: config.cache.negativeTtl,
      onEvict: (polarity) => events.emit({ type: 'lookup.evict', remote: config.id, polarity }),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
  }

  verify(credentials: Credentials, client?: ClientInfo): Promise<Verdict> {
    const remote = this.#remote.id;
    if (this.#closed) return Promise.resolve({ kind: 'tempfail', reason: 'lookup closed' });

    const key = this.#cache.key(credentials);
    const cached = this.#cache.get(key);
    if (cached !== undefined) {
      this.#events.emit({ type: 'lookup.cache', remote, outcome: 'hit', polarity: cached.polarity });
      return Promise.resolve(cached.verdict);
    }
    this.#events.emit({ type: 'lookup.cache', remote, outcome: 'miss' });

    const inFlight = this.#pending.get(key);
    if (inFlight !== undefined) {
      this.#events.emit({ type: 'lookup.join', remote });
      return inFlight.verdict;
    }

    if (this.#running.size >= this.#remote.concurrency && this.#queue.length >= this.#maxQueue) {
      this.#events.emit({ type: 'lookup.overflow', remote });
      return Promise.resolve({ kind: 'tempfail', reason: 'lookup queue full' });
    }

    let settle!: (verdict: Verdict) => void;
    const verdict = new Promise<Verdict>((resolve) => (settle = resolve));
    const job: Job = { key, credentials, client, verdict, settle };
    this.#pending.set(key, job);
    if (this.#running.size < this.#remote.concurrency) this.#start(job);
    else this.#enqueue(job);
    return verdict;
  }

  stats(): LookupStats {
    const { positive, negative } = this.#cache.size();
    return {
      queued: this.#queue.length,
      open: this.#running.size,
      concurrency: this.#remote.concurrency,
      positive,
      negative,
    };
  }

  /** Tempfails every queued request, then waits for the open checks (each bounded by `timeout`). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue.splice(0)) this.#finish(job, { kind: 'tempfail', reason: 'lookup closed' });
    await Promise.all(this.#running);
  }

  /**
   * `timeout` bounds the wait for a connection too: behind a black-holed server each queued request
   * would otherwise wait its place in line times `timeout` (hours with the defaults) for its 454.
   */
  #enqueue(job: Job): void {
    job.expiry = setTimeout(() => {
      const at = this.#queue.indexOf(job);
      if (at < 0) return;
      this.#queue.splice(at, 1);
      this.#events.emit({ type: 'lookup.queue_timeout', remote: this.#remote.id });
      this.#finish(job, { kind: 'tempfail', reason: `no IMAP connection free within ${this.#remote.timeout} ms` });
    }, this.#remote.timeout);
    // The waiting SMTP session keeps the process alive; this timer must not outlive a shutdown.
    job.expiry.unref();
    this.#queue.push(job);
  }

  #start(job: Job): void {
    clearTimeout(job.expiry);
    const started = performance.now();
    const check = startCheck(this.#remote, this.#tls, job.credentials, job.client);
    void check.verdict.then((verdict) => {
      this.#events.emit({
        type: 'lookup.check',
        remote: this.#remote.id,
        result: verdict.kind,
        seconds: (performance.now() - started) / 1000,
        ...(verdict.kind === 'tempfail' ? { reason: verdict.reason } : {}),
      });
      this.#cache.set(job.key, verdict);
      this.#finish(job, verdict);
    });
    // The slot is free only once the connection is closed, so `concurrency` bounds real connections.
    const slot = check.closed.then(() => {
      this.#running.delete(slot);
      this.#startQueued();
    });
    this.#running.add(slot);
  }

  #startQueued(): void {
    while (!this.#closed && this.#running.size < this.#remote.concurrency) {
      const next = this.#queue.shift();
      if (next === undefined) return;
      this.#start(next);
    }
  }

  #finish(job: Job, verdict: Verdict): void {
    clearTimeout(job.expiry);
    this.#pending.delete(job.key);
    job.settle(verdict);
  }
}
