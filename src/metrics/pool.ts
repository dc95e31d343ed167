// The Piscina worker pool. Task durations are measured inside the workers and reach the main thread
// as pool.task events, so this registry sees every task without workers having registries of their own.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { PosternEvent, TaskKind } from '../events.js';
import type { PoolStats } from '../pool/pool.js';

export interface PoolStatsSource {
  stats(): PoolStats;
}

const KINDS: readonly TaskKind[] = ['sasl', 'rules', 'hash'];

/** 50 µs (a rule evaluation) to 5 s (a costly hash on a loaded machine). */
const TASK_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export function poolMetrics(registry: Registry, source: PoolStatsSource): (event: PosternEvent) => void {
  const registers = [registry];
  const startedAt = performance.now();
  new Gauge({
    name: 'postern_pool_threads',
    help: 'Worker threads in the pool.',
    registers,
    collect() {
      this.set(source.stats().threads);
    },
  });
  new Gauge({
    name: 'postern_pool_queue_size',
    help: 'Tasks waiting for a free worker.',
    registers,
    collect() {
      this.set(source.stats().queueSize);
    },
  });
  new Gauge({
    name: 'postern_pool_queue_capacity',
    help: 'Most tasks that may wait (server.workers.max-queue); beyond it AUTH answers 454.',
    registers,
    collect() {
      this.set(source.stats().maxQueue);
    },
  });
  new Gauge({
    name: 'postern_pool_utilization_ratio',
    help: 'Busy worker time over available worker time since start; use rate(postern_pool_busy_seconds_total) / postern_pool_threads for a window.',
    registers,
    collect() {
      // From the events, like the busy counter: a pool replaced by a reload starts its own stats at 0.
      const capacity = source.stats().threads * ((performance.now() - startedAt) / 1000);
      this.set(capacity > 0 ? busySeconds / capacity : 0);
    },
  });
  const busy = new Counter({
    name: 'postern_pool_busy_seconds_total',
    help: 'Summed run time of tasks on workers.',
    registers,
  });
  const tasks = new Counter({
    name: 'postern_pool_tasks_total',
    help: 'Tasks that ran on a worker, by kind and whether they succeeded.',
    labelNames: ['kind', 'ok'] as const,
    registers,
  });
  const refused = new Counter({
    name: 'postern_pool_tasks_refused_total',
    help: 'Tasks that never reached a worker (queue full, pool closing, worker died).',
    labelNames: ['kind'] as const,
    registers,
  });
  const duration = new Histogram({
    name: 'postern_pool_task_duration_seconds',
    help: 'Run time of a task, measured inside the worker.',
    labelNames: ['kind'] as const,
    buckets: TASK_BUCKETS,
    registers,
  });

  let busySeconds = 0;
  busy.inc(0);
  for (const kind of KINDS) {
    for (const ok of ['true', 'false']) tasks.inc({ kind, ok }, 0);
    refused.inc({ kind }, 0);
    duration.zero({ kind });
  }

  return (event) => {
    if (event.type === 'pool.refused') return refused.inc({ kind: event.kind });
    if (event.type !== 'pool.task') return;
    tasks.inc({ kind: event.kind, ok: String(event.ok) });
    duration.observe({ kind: event.kind }, event.seconds);
    busy.inc(event.seconds);
    busySeconds += event.seconds;
  };
}
