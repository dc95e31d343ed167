// The AUTH stage: attempts by mechanism and result, latency, and sessions dropped at errors.total.
// auth.result carries the claimed `user` for the log; it is never read here.
import { Counter, Histogram, type Registry } from 'prom-client';
import type { AuthResult, PosternEvent } from '../events.js';
import { MECHANISMS } from '../sasl/types.js';

const RESULTS: readonly AuthResult[] = [
  'success',
  'bad_credentials',
  'temp_failure',
  'malformed',
  'cancelled',
  'too_long',
  'not_allowed',
];

/** 0.5 ms (a cached verdict) to 60 s (errors.wait plus a slow IMAP server). */
const AUTH_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export function authMetrics(registry: Registry, listeners: readonly string[]): (event: PosternEvent) => void {
  const registers = [registry];
  const attempts = new Counter({
    name: 'postern_auth_attempts_total',
    help: 'AUTH exchanges that reached a final reply, by mechanism and result.',
    labelNames: ['listener', 'mechanism', 'result'] as const,
    registers,
  });
  const tooManyErrors = new Counter({
    name: 'postern_auth_too_many_errors_total',
    help: 'Sessions disconnected after session.auth.errors.total failed AUTH attempts.',
    labelNames: ['listener'] as const,
    registers,
  });
  const duration = new Histogram({
    name: 'postern_auth_duration_seconds',
    help: 'Time from the AUTH command to its final reply (errors.wait included), by result.',
    labelNames: ['result'] as const,
    buckets: AUTH_BUCKETS,
    registers,
  });

  // Every combination is small (listeners x 4 x 7) and lets rate() see the first failure.
  for (const listener of listeners) {
    tooManyErrors.inc({ listener }, 0);
    for (const mechanism of MECHANISMS) {
      for (const result of RESULTS) attempts.inc({ listener, mechanism, result }, 0);
    }
  }
  for (const result of RESULTS) duration.zero({ result });

  return (event) => {
    switch (event.type) {
      case 'auth.result':
        attempts.inc({ listener: event.listener, mechanism: event.mechanism, result: event.result });
        duration.observe({ result: event.result }, event.seconds);
        break;
      case 'auth.too_many_errors':
        tooManyErrors.inc({ listener: event.listener });
        break;
      default:
        break;
    }
  };
}
