// The lookup actors, one per [remote."<id>"]: queue, IMAP connections, check latency and the cache.
// The only label is the remote's config id (never a user, address or key).
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { PosternEvent } from '../events.js';
import { parsePath, type LookupStats, type Verifier } from '../directory/verdict.js';

/** The remote backends in use now (they change with the config generation). */
export type LookupBackends = () => Iterable<Verifier>;

/** [remote id, stats] of each backend that keeps them. */
function* statsById(backends: LookupBackends): Iterable<[string, LookupStats]> {
  for (const backend of backends()) {
    const stats = backend.stats();
    if (stats !== null) yield [parsePath(backend.path).id, stats];
  }
}

const POLARITIES = ['positive', 'negative'] as const;
const CHECK_RESULTS = ['ok', 'bad', 'tempfail'] as const;

/** 1 ms (a LOGIN on loopback) to 60 s (the default remote timeout). */
const CHECK_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export function lookupMetrics(registry: Registry, backends: LookupBackends): (event: PosternEvent) => void {
  const registers = [registry];
  const perRemote = (read: (s: LookupStats) => number) =>
    function (this: Gauge<'remote'>): void {
      // A remote a reload removed has no series any more.
      this.reset();
      for (const [remote, stats] of statsById(backends)) {
        precreate(remote);
        this.set({ remote }, read(stats));
      }
    };
  new Gauge({
    name: 'postern_lookup_queued_requests',
    help: 'Checks waiting for a free IMAP connection slot.',
    labelNames: ['remote'] as const,
    registers,
    collect: perRemote((s) => s.queued),
  });
  new Gauge({
    name: 'postern_lookup_imap_connections_open',
    help: 'IMAP connections open to the remote.',
    labelNames: ['remote'] as const,
    registers,
    collect: perRemote((s) => s.open),
  });
  new Gauge({
    name: 'postern_lookup_imap_connections_limit',
    help: 'Most IMAP connections open at once (remote concurrency).',
    labelNames: ['remote'] as const,
    registers,
    collect: perRemote((s) => s.concurrency),
  });
  new Gauge({
    name: 'postern_lookup_cache_entries',
    help: 'Cached verdicts, by polarity.',
    labelNames: ['remote', 'polarity'] as const,
    registers,
    collect() {
      this.reset();
      for (const [remote, s] of statsById(backends)) {
        this.set({ remote, polarity: 'positive' }, s.positive);
        this.set({ remote, polarity: 'negative' }, s.negative);
      }
    },
  });
  const checks = new Histogram({
    name: 'postern_lookup_check_duration_seconds',
    help: 'Time of one IMAP credential check, by result.',
    labelNames: ['remote', 'result'] as const,
    buckets: CHECK_BUCKETS,
    registers,
  });
  const hits = new Counter({
    name: 'postern_lookup_cache_hits_total',
    help: 'Checks answered from the cache, by the polarity of the cached verdict.',
    labelNames: ['remote', 'polarity'] as const,
    registers,
  });
  const misses = new Counter({
    name: 'postern_lookup_cache_misses_total',
    help: 'Checks the cache could not answer.',
    labelNames: ['remote'] as const,
    registers,
  });
  const joins = new Counter({
    name: 'postern_lookup_joins_total',
    help: 'Checks that joined an identical check already in flight (single-flight).',
    labelNames: ['remote'] as const,
    registers,
  });
  const evictions = new Counter({
    name: 'postern_lookup_cache_evictions_total',
    help: 'Cache entries evicted to make room, by polarity.',
    labelNames: ['remote', 'polarity'] as const,
    registers,
  });
  const overflows = new Counter({
    name: 'postern_lookup_queue_overflows_total',
    help: 'Checks refused because the queue was full (answered 454).',
    labelNames: ['remote'] as const,
    registers,
  });

  const queueTimeouts = new Counter({
    name: 'postern_lookup_queue_timeouts_total',
    help: 'Checks answered 454 after waiting `timeout` in the queue without a free connection.',
    labelNames: ['remote'] as const,
    registers,
  });

  // Every remote's series exist from the first scrape or event that names it (at start, or after a
  // reload that added it), so rate() and "== 0" alerts work before its first event. The gauges above
  // run this at collect time, before the counters below are read; zero() is only ever run once per remote.
  const known = new Set<string>();
  const precreate = (remote: string): void => {
    if (known.has(remote)) return;
    known.add(remote);
    for (const result of CHECK_RESULTS) checks.zero({ remote, result });
    for (const polarity of POLARITIES) {
      hits.inc({ remote, polarity }, 0);
      evictions.inc({ remote, polarity }, 0);
    }
    misses.inc({ remote }, 0);
    joins.inc({ remote }, 0);
    overflows.inc({ remote }, 0);
    queueTimeouts.inc({ remote }, 0);
  };
  for (const [remote] of statsById(backends)) precreate(remote);

  return (event) => {
    // A remote's first event may come before the first scrape that would have pre-created its series.
    if (event.type.startsWith('lookup.') && 'remote' in event) precreate(event.remote);
    switch (event.type) {
      case 'lookup.check':
        checks.observe({ remote: event.remote, result: event.result }, event.seconds);
        break;
      case 'lookup.cache':
        if (event.outcome === 'miss') misses.inc({ remote: event.remote });
        else hits.inc({ remote: event.remote, polarity: event.polarity });
        break;
      case 'lookup.join':
        joins.inc({ remote: event.remote });
        break;
      case 'lookup.evict':
        evictions.inc({ remote: event.remote, polarity: event.polarity });
        break;
      case 'lookup.overflow':
        overflows.inc({ remote: event.remote });
        break;
      case 'lookup.queue_timeout':
        queueTimeouts.inc({ remote: event.remote });
        break;
      default:
        break;
    }
  };
}
