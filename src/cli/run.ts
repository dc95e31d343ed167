// `postern [--config FILE]`: runs the server until SIGTERM/SIGINT, then drains and exits 0.
import type { Config } from '../config/types.js';
import { createLogger } from '../log.js';
import { startPostern } from '../runtime/postern.js';

/** Sessions get this long to finish after SIGTERM/SIGINT. */
const SHUTDOWN_GRACE_MS = 10_000;

export async function runServer(config: Config): Promise<void> {
  const logger = createLogger();
  const postern = await startPostern(config, { logger });
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) process.exit(1); // a second signal means "now"
    stopping = true;
    logger.info({ event: 'shutdown', signal, graceMs: SHUTDOWN_GRACE_MS });
    void postern.close(SHUTDOWN_GRACE_MS).then(() => {
      logger.info({ event: 'stopped' });
      logger.flush(() => process.exit(0));
    });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
