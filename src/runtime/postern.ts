// The composition root: config in, running Postern out. The long-lived parts — event bus and log,
// spool, metrics registry, the directory backends' lookup actors (and so their caches), the control
// socket, the listening sockets — are made once here; everything else the config defines is a
// Generation, which `swap` replaces for new sessions while open ones finish with theirs.
import type { AddressInfo, Socket } from 'node:net';
import type { Config } from '../config/types.js';
import { ControlServer } from '../control/server.js';
import { Directories } from '../directory/registry.js';
import { describeError } from '../errors.js';
import { EventBus } from '../events.js';
import { logEvents, type Logger } from '../log.js';
import { createMetrics, type Metrics } from '../metrics/index.js';
import { ProxyProtocol } from '../proxy/protocol.js';
import { startHttpListener, startSmtpListener, type RunningListener } from '../smtp/listeners.js';
import { Spool } from '../spool/spool.js';
import { VERSION } from '../version.js';
import { Generation, type LongLived } from './generation.js';
import { Lifecycle } from './lifecycle.js';

export interface RunningPostern {
  readonly events: EventBus;
  /** Verbs the CLI can send to this server over `server.control-socket`. */
  readonly control: ControlServer;
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
  const postern = new Postern(events, logger);
  try {
    await postern.start(config);
  } catch (err) {
    await postern.close(0);
    throw err;
  }
  return postern;
}

class Postern implements RunningPostern {
  readonly events: EventBus;
  readonly control: ControlServer;
  readonly listeners: RunningListener[] = [];
  readonly #logger: Logger;
  readonly #lifecycle = new Lifecycle();
  /** The current generation and those still draining. */
  readonly #generations = new Set<Generation>();
  readonly #proxy: ProxyProtocol;
  readonly #startedAt = Date.now();
  #current: Generation | undefined;
  #shared: LongLived | undefined;
  #closing = false;

  constructor(events: EventBus, logger: Logger) {
    this.events = events;
    this.#logger = logger;
    this.#proxy = new ProxyProtocol(events);
    this.control = new ControlServer((verb, error) =>
      logger.error({ event: 'control.fault', verb, error: describeError(error) }, 'a control command failed'),
    );
    logEvents(events, logger);
  }

  get generation(): Generation {
    if (this.#current === undefined) throw new Error('Postern has not started');
    return this.#current;
  }

  get config(): Config {
    return this.generation.config;
  }

  /** Each service registers its close as it starts: the Lifecycle closes them in reverse. */
  async start(config: Config): Promise<void> {
    const logger = this.#logger;
    for (const warning of config.warnings) logger.warn({ event: 'config.warning' }, warning);

    const spool = new Spool(config.queue.path);
    const swept = await spool.init();
    if (swept > 0) logger.warn({ event: 'spool.swept', files: swept }, 'removed half-written files a previous run left in the queue tmp/');
    // Stores under way finish (or are cleaned up) once their sessions are gone.
    this.#lifecycle.onClose('spool', () => spool.settled());

    const directories = new Directories(this.events);
    this.#lifecycle.onClose('directories', () => directories.close());

    const metrics = createMetrics(this.events, {
      listeners: config.listeners.filter((l) => l.protocol === 'smtp').map((l) => l.id),
      pool: { stats: () => this.generation.pool.stats() },
      remotes: () => directories.remotes(),
    });
    // Closes after the sessions: their last events still count.
    this.#lifecycle.onClose('metrics', () => metrics.close());

    // Answers during the drain too (status shows the sessions left). Bound before any SMTP port:
    // a second server on the same control socket, and so usually the same spool, stops here.
    this.control.register('status', async () => this.#status(await spool.count()));
    if (config.server.controlSocket !== null) await this.control.listen(config.server.controlSocket);
    this.#lifecycle.onClose('control', () => this.control.close());

    this.#shared = { events: this.events, logger, spool, directories };
    this.#serve(await Generation.build(1, config, this.#shared));
    this.#lifecycle.onClose('sessions', ({ graceMs }) => {
      this.#closing = true;
      return Promise.all([...this.#generations].map((g) => g.close(graceMs))).then(() => undefined);
    });

    // Sockets still in their PROXY header when the listeners have stopped are cut, not drained.
    this.#lifecycle.onClose('proxy', () => this.#proxy.close());

    this.#lifecycle.onClose('listeners', () => Promise.all(this.listeners.map((l) => l.close())).then(() => undefined));
    await this.#startListeners(config, metrics);
  }

  address(listenerId: string): AddressInfo {
    const address = this.listeners.find((l) => l.id === listenerId)?.addresses[0];
    if (address === undefined) throw new Error(`no listener "${listenerId}"`);
    return address;
  }

  async swap(config: Config): Promise<Generation> {
    if (this.#closing || this.#shared === undefined) throw new Error('Postern is shutting down');
    const previous = this.generation;
    const next = await Generation.build(previous.id + 1, config, this.#shared);
    this.#serve(next);
    void previous.close().then(() => {
      this.#generations.delete(previous);
      this.#logger.info({ event: 'generation.closed', generation: previous.id });
    });
    return next;
  }

  close(graceMs = 10_000): Promise<void> {
    return this.#lifecycle.close({ graceMs }, (name, error) =>
      error === undefined
        ? this.#logger.debug({ event: 'shutdown.step', step: name })
        : this.#logger.error({ event: 'shutdown.step', step: name, error: describeError(error) }, 'a service failed to close'),
    );
  }

  #serve(generation: Generation): void {
    this.#current = generation;
    this.#generations.add(generation);
    this.#logger.info({ event: 'generation.started', generation: generation.id });
  }

  async #startListeners(config: Config, metrics: Metrics): Promise<void> {
    const dispatch =
      (listenerId: string) =>
      (socket: Socket): void => {
        // Trust is the config's current at the accept; the session goes to the generation current once the header is in.
        void this.#proxy.client(listenerId, socket, this.generation.config).then((client) => {
          // Nothing we could say: this generation no longer has the listener the socket came in on.
          if (client !== null && !this.generation.accept(listenerId, socket, client)) socket.destroy();
        });
      };
    for (const listener of config.listeners) {
      this.listeners.push(
        listener.protocol === 'http' ? await startHttpListener(listener, metrics.handle) : await startSmtpListener(listener, dispatch(listener.id)),
      );
    }
    for (const l of this.listeners) {
      this.#logger.info({ event: 'listener.up', listener: l.id, protocol: l.protocol, addresses: l.addresses.map(formatAddress) });
    }
  }

  #status(queue: number): Record<string, unknown> {
    return {
      version: VERSION,
      pid: process.pid,
      uptimeSeconds: Math.round((Date.now() - this.#startedAt) / 1000),
      generation: this.generation.id,
      listeners: this.listeners.map((l) => ({ id: l.id, protocol: l.protocol, addresses: l.addresses.map(formatAddress) })),
      sessions: [...this.#generations].reduce((open, g) => open + g.sessions, 0),
      queue,
    };
  }
}

export function formatAddress(a: AddressInfo): string {
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
