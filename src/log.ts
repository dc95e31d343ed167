// JSON-lines logging (pino). Session events become log lines here, from the same events the metrics
// count. Events never carry a password, token or SASL payload, so nothing here can leak one.
import { pino, type DestinationStream, type Logger } from 'pino';
import type { EventBus, PosternEvent } from './events.js';

export type { Logger };

/**
 * Logs to `destination`, or to stdout through pino's asynchronous writer: a synchronous write per log
 * line was a tenth of the main thread's time under load (BENCHMARKS.md). Even asynchronous, a write
 * per line hands each line to libuv's thread pool (a thread wake-up, ~4 per session), so lines are
 * written in batches of BATCH_BYTES, or after at most FLUSH_MS when traffic is light. `main`
 * flushes before exit.
 */
const BATCH_BYTES = 4096;
const FLUSH_MS = 100;

export function createLogger(destination?: DestinationStream, level = process.env.POSTERN_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    { base: { service: 'postern' }, level },
    destination ?? pino.destination({ dest: 1, sync: false, minLength: BATCH_BYTES, periodicFlush: FLUSH_MS }),
  );
}

/** Which events are log lines, and at which level. Lookup and pool internals are debug: metrics cover them. */
function levelOf(event: PosternEvent): 'error' | 'info' | 'warn' | 'debug' {
  switch (event.type) {
    case 'auth.result':
      return event.result === 'temp_failure' ? 'warn' : 'info';
    case 'auth.too_many_errors':
    case 'message.rejected':
    case 'lookup.overflow':
    case 'lookup.queue_timeout':
      return 'warn';
    case 'lookup.check':
      return event.result === 'tempfail' ? 'warn' : 'debug';
    // A trusted peer that connects and closes without a byte is a plain TCP health check; a bad, late or
    // cut-off header means the balancer and Postern disagree.
    case 'proxy.refused':
      return event.reason === 'truncated' && event.received === 0 ? 'debug' : 'warn';
    case 'config.reload':
      return event.result === 'ok' ? 'info' : 'error';
    case 'generation.started':
    case 'session.connect':
    case 'session.close':
    case 'session.tls':
    case 'message.queued':
      return 'info';
    case 'lookup.cache':
    case 'lookup.join':
    case 'lookup.evict':
    case 'pool.task':
    case 'pool.refused': // the session's own auth.result or rejection says it at warn, with the reason
    case 'proxy.header': // session.connect says the client at info
      return 'debug';
  }
}

export function logEvents(events: EventBus, logger: Logger): void {
  events.on((event) => {
    const { type, ...fields } = event;
    logger[levelOf(event)]({ event: type, ...fields });
  });
}
