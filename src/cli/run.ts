// `postern [--config FILE]`: runs the server in the foreground, as a service manager expects of a
// daemon. SIGTERM/SIGINT stop accepting, let open sessions finish, and exit 0; a second one exits at
// once. SIGHUP reloads the config file. SIGUSR1/SIGUSR2 are logged and do nothing else (Node's own
// SIGUSR1 action would open an inspector port). Every exit flushes the log first: lines are written
// in batches (src/log.ts), and a signal's default action would drop the batch not yet written.
import type { Config } from '../config/types.js';
import { createLogger, type Logger } from '../log.js';
import { startPostern } from '../runtime/postern.js';
import type { ReloadResult } from '../runtime/reload.js';
import { monotonicMicroseconds, serviceManager } from './sd-notify.js';

/** Sessions get this long to finish after SIGTERM/SIGINT. */
const SHUTDOWN_GRACE_MS = 10_000;
/** An exit waits this long at most for the log to flush (a stdout nobody reads must not hold it up). */
const FLUSH_TIMEOUT_MS = 2_000;

export async function runServer(config: Config): Promise<void> {
  const logger = createLogger();
  const manager = serviceManager(logger);
  // Signals are handled from the start: one that arrives while Postern starts acts once it has.
  const started = startPostern(config, { logger });
  let stopping = false;

  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ event: 'shutdown.forced', signal }, 'a second signal: exiting now, without waiting for open sessions');
      return afterFlush(logger, () => process.exit(1));
    }
    stopping = true;
    logger.info({ event: 'shutdown', signal, graceMs: SHUTDOWN_GRACE_MS });
    void manager.notify({ STOPPING: '1' });
    started.then(
      (postern) =>
        postern.close(SHUTDOWN_GRACE_MS).then(() => {
          logger.info({ event: 'stopped' });
          afterFlush(logger, () => process.exit(0));
        }),
      () => {}, // it never started: main reports why and exits
    );
  };
  const reload = (signal: NodeJS.Signals): void => {
    if (stopping) return void logger.info({ event: 'signal.ignored', signal }, 'shutting down: no reload');
    started.then(
      async (postern) => {
        await manager.notify({ RELOADING: '1', MONOTONIC_USEC: monotonicMicroseconds() });
        const result = await postern.reload();
        await manager.notify({ READY: '1', STATUS: statusLine(result) });
      },
      () => {},
    );
  };
  const ignore = (signal: NodeJS.Signals): void => void logger.info({ event: 'signal.ignored', signal }, 'no action for this signal');

  // `on`, not `once`: a second SIGTERM must reach stop() too, not Node's default (death, unflushed).
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', reload);
  process.on('SIGUSR1', ignore);
  process.on('SIGUSR2', ignore);
  // SIGQUIT keeps its meaning (die now, dump core where enabled), after the log is written.
  process.once('SIGQUIT', (signal) => {
    logger.warn({ event: 'shutdown.forced', signal }, 'exiting at once');
    afterFlush(logger, () => process.kill(process.pid, signal));
  });

  const postern = await started;
  if (!stopping) await manager.notify({ READY: '1', STATUS: `config generation ${postern.generation.id}` });
}

/** What `systemctl status` shows after a reload. */
function statusLine(result: ReloadResult): string {
  return result.ok
    ? `config generation ${result.generation}`
    : `reload refused (${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}, see the log); config generation ${result.generation} stays in force`;
}

/** Runs `exit` once the log is written, or after FLUSH_TIMEOUT_MS. */
function afterFlush(logger: Logger, exit: () => void): void {
  const timer = setTimeout(exit, FLUSH_TIMEOUT_MS);
  logger.flush(() => {
    clearTimeout(timer);
    exit();
  });
}
