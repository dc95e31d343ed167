// Prometheus metrics on a registry of Postern's own: counters and histograms fed by the event bus,
// gauges read from the pool and the lookup actors at scrape time, plus prom-client's process metrics.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { EventBus } from '../events.js';
import { authMetrics } from './auth.js';
import { metricsHandler } from './http.js';
import { lookupMetrics, type LookupBackends } from './lookup.js';
import { poolMetrics, type PoolStatsSource } from './pool.js';
import { proxyMetrics } from './proxy.js';
import { reloadMetrics } from './reload.js';
import { trafficMetrics } from './traffic.js';

export interface MetricsSources {
  /** Listener ids, to pre-create their series at 0. */
  listeners: string[];
  /** The current generation's pool. */
  pool: PoolStatsSource;
  /** The remote lookups in use now; their series are pre-created for those in use at start. */
  remotes: LookupBackends;
}

export interface Metrics {
  registry: Registry;
  /** Serves GET /metrics; mounted on every `protocol = "http"` listener. */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Stops listening to the bus and empties the registry. */
  close(): void;
}

const REDUNDANT_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export function createMetrics(events: EventBus, sources: MetricsSources): Metrics {
  const registry = new Registry();
  // Stock names (process_*, nodejs_*) so off-the-shelf Node.js dashboards work unchanged.
  collectDefaultMetrics({ register: registry });
  // Gauges named *_total break the exposition conventions (promtool flags them); each is
  // sum(nodejs_active_<x>), which prom-client exports by type as well.
  for (const name of REDUNDANT_DEFAULTS) registry.removeSingleMetric(name);
  const observers = [
    trafficMetrics(registry, sources.listeners),
    authMetrics(registry, sources.listeners),
    poolMetrics(registry, sources.pool),
    lookupMetrics(registry, sources.remotes),
    proxyMetrics(registry, sources.listeners),
    reloadMetrics(registry),
  ];
  const off = events.on((event) => {
    for (const observe of observers) observe(event);
  });
  return {
    registry,
    handle: metricsHandler(registry),
    close() {
      off();
      registry.clear();
    },
  };
}
