// Config reloads and generations: how each reload ended, and the generation serving new sessions.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { PosternEvent } from '../events.js';

const RESULTS = ['ok', 'error'] as const;

export function reloadMetrics(registry: Registry): (event: PosternEvent) => void {
  const registers = [registry];
  const reloads = new Counter({
    name: 'postern_config_reloads_total',
    help: 'Config reloads (SIGHUP, postern reload) by result: ok = the new config serves new sessions, error = refused, the running config stays.',
    labelNames: ['result'] as const,
    registers,
  });
  const lastSuccessful = new Gauge({
    name: 'postern_config_last_reload_successful',
    help: '0 while the last reload was refused (the file on disk is not the config in force), else 1.',
    registers,
  });
  const generation = new Gauge({
    name: 'postern_config_generation',
    help: 'The config generation new sessions get (1 at start, one more per successful reload).',
    registers,
  });
  const loadSeconds = new Gauge({
    name: 'postern_config_generation_load_seconds',
    help: 'How long the current config generation took to build: its worker pool, backends and certificates.',
    registers,
  });

  for (const result of RESULTS) reloads.inc({ result }, 0);
  lastSuccessful.set(1);

  return (event) => {
    switch (event.type) {
      case 'config.reload':
        reloads.inc({ result: event.result });
        lastSuccessful.set(event.result === 'ok' ? 1 : 0);
        break;
      case 'generation.started':
        generation.set(event.generation);
        loadSeconds.set(event.seconds);
        break;
      default:
        break;
    }
  };
}
