// The composition root: config in, running Postern out. The long-lived parts — event bus and log,
// spool, metrics registry, the directory backends' lookup actors (and so their caches), the
// listening sockets — are made once here; everything else the config defines is a Generation,
// which `swap` replaces for new sessions while open ones finish with theirs.
import type { AddressInfo, Socket } from 'node:net';
import type { Config } from '../config/types.js';
import { Directories } from '../directory/registry.js';
import { describeError } from '../errors.js';
import { EventBus } from '../events.js';
import { logEvents, type Logger } from '../log.js';
import { createMetrics } from '../metrics/index.js';
import { startHttpListener, startSmtpListener, type RunningListener } from '../smtp/listeners.js';
import { Spool } from '../spool/spool.js';
import { Generation } from './generation.js';
import { Lifecycle } from './lifecycle.js';

export interface RunningPostern {
  readonly events: EventBus;
  readonly listeners: readonly RunningListener[];
  /** The generation new sessions get. */
  readonly generation: Generation;
  /** The current generation's config. */
  readonly config: Config;
  /** The first bound address of a listener (tests bind port 0). */
  address(listenerId: string): AddressInfo;
  /**
   * Builds a generation from `config` and serves new sessions with it; open sessions finish with the
   * one they started with, which then closes. Listeners stay as they are (a config must keep them).
   */
  swap(config: Config): Promise<Generation>;
  /** Stops accepting, lets sessions finish within `graceMs`, then closes everything in order. */
  close(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  logger: Logger;
  events?: EventBus;
}

export async function startPostern(config: Config, { logger, events = new EventBus() }: StartOptions): Promise<RunningPostern> {
  const lifecycle = new Lifecycle();
  const close = (graceMs: number): Promise<void> =>
    lifecycle.close({ graceMs }, (name, error) =>
      error === undefined
        ? logger.debug({ event: 'shutdown.step', step: name })
        : logger.error({ event: 'shutdown.step', step: name, error: describeError(error) }, 'a service failed to close'),
    );

  logEvents(events, logger);
  for (const warning of config.warnings) logger.warn({ event: 'config.warning' }, warning);

  const spool = new Spool(config.queue.path);
  const swept = await spool.init();
  if (swept > 0) logger.warn({ event: 'spool.swept', files: swept }, 'removed half-written files a previous run left in the queue tmp/');
  // Stores under way finish (or are cleaned up) once their sessions are gone.
  lifecycle.onClose('spool', () => spool.settled());

  const directories = new Directories(events);
  lifecycle.onClose('directories', () => directories.close());

  const shared = { events, logger, spool, directories };
  let current: Generation;
  try {
    current = await Generation.build(1, config, shared);
  } catch (err) {
    await close(0);
    throw err;
  }
  // Registered before the sessions so that it closes after them: their last events still count.
  const metrics = createMetrics(events, {
    listeners: config.listeners.filter((l) => l.protocol === 'smtp').map((l) => l.id),
    pool: { stats: () => current.pool.stats() },
    remotes: () => directories.remotes(),
  });
  lifecycle.onClose('metrics', () => metrics.close());
  logger.info({ event: 'generation.started', generation: current.id });
  const generations = new Set([current]);
  let closing = false;
  lifecycle.onClose('sessions', ({ graceMs }) => {
    closing = true;
    return Promise.all([...generations].map((g) => g.close(graceMs))).then(() => undefined);
  });

  const listeners: RunningListener[] = [];
  lifecycle.onClose('listeners', () => Promise.all(listeners.map((l) => l.close())).then(() => undefined));
  const dispatch =
    (listenerId: string) =>
    (socket: Socket): void => {
      // Nothing we could say: this generation no longer has the listener the socket came in on.
      if (!current.accept(listenerId, socket)) socket.destroy();
    };
  try {
    for (const listener of config.listeners) {
      listeners.push(
        listener.protocol === 'http'
          ? await startHttpListener(listener, metrics.handle)
          : await startSmtpListener(listener, dispatch(listener.id)),
      );
    }
  } catch (err) {
    await close(0);
    throw err;
  }

  for (const l of listeners) {
    logger.info({ event: 'listener.up', listener: l.id, protocol: l.protocol, addresses: l.addresses.map(formatAddress) });
  }

  return {
    events,
    listeners,
    get generation() {
      return current;
    },
    get config() {
      return current.config;
    },
    address(listenerId) {
      const address = listeners.find((l) => l.id === listenerId)?.addresses[0];
      if (address === undefined) throw new Error(`no listener "${listenerId}"`);
      return address;
    },
    async swap(next) {
      if (closing) throw new Error('Postern is shutting down');
      const previous = current;
      const generation = await Generation.build(previous.id + 1, next, shared);
      current = generation;
      generations.add(generation);
      logger.info({ event: 'generation.started', generation: generation.id });
      void previous.close().then(() => {
        generations.delete(previous);
        logger.info({ event: 'generation.closed', generation: previous.id });
      });
      return generation;
    },
    close: (graceMs = 10_000) => close(graceMs),
  };
}

export function formatAddress(a: AddressInfo): string {
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
