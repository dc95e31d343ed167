// The composition root: config in, running Postern out. The long-lived parts — event bus and log,
// spool, metrics registry, the directory backends' lookup actors (and so their caches), the control
// socket, the listening sockets — are made once here; everything else the config defines is a
// Generation, which a reload (`reload`, `swap`) replaces for new sessions while open ones finish with
// theirs; the reload moves the listening sockets and the control socket to the new config too.
import type { AddressInfo, Socket } from 'node:net';
import { loadConfigFile } from '../config/load.js';
import type { Config } from '../config/types.js';
import { DEFAULT_CONTROL_SOCKET } from '../config/listeners.js';
import { ControlServer, ControlSocketInUse } from '../control/server.js';
import { Directories } from '../directory/registry.js';
import { ConfigError, describeError, formatProblem } from '../errors.js';
import { EventBus } from '../events.js';
import { logEvents, type Logger } from '../log.js';
import { createMetrics, type Metrics } from '../metrics/index.js';
import { ProxyProtocol } from '../proxy/protocol.js';
import { Listeners, type ListenerChange, type RunningListener } from '../smtp/listeners.js';
import { Spool } from '../spool/spool.js';
import { VERSION } from '../version.js';
import { Generation, type LongLived } from './generation.js';
import { Lifecycle } from './lifecycle.js';
import { problemsOf, Serial, type ReloadResult } from './reload.js';

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
   * Re-reads the config file (the current config's `source`) and swaps it in. Never rejects: a
   * refused reload says why in its result, and the running config stays.
   */
  reload(): Promise<ReloadResult>;
  /**
   * Builds a generation from `config` and serves new sessions with it; open sessions finish with the
   * one they started with, which then closes. Listeners and the control socket move to the binds of
   * `config`. All or nothing: if any part fails, the running config stays.
   */
  swap(config: Config): Promise<ReloadResult>;
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
  readonly #logger: Logger;
  readonly #lifecycle = new Lifecycle();
  readonly #listeners = new Listeners({
    smtp: (listenerId, socket) => this.#dispatch(listenerId, socket),
    http: (req, res) => this.#metrics?.handle(req, res), // set before any listener starts
    error: (listener, error) => this.#logger.warn({ event: 'listener.error', listener, error: describeError(error) }, 'a listening socket failed to accept'),
  });
  /** The current generation and those still draining. */
  readonly #generations = new Set<Generation>();
  readonly #startedAt = Date.now();
  /** Swaps run one at a time. */
  readonly #changes = new Serial();
  /** A reload asked for that has not started yet; another request joins it. */
  #waitingReload: Promise<ReloadResult> | undefined;
  #current: Generation | undefined;
  /** A reload's new generation while its listeners bind: a listener only it has is served by it. */
  #pending: Generation | undefined;
  #shared: LongLived | undefined;
  #metrics: Metrics | undefined;
  /** The spool's path: the spool is long-lived, a reload cannot move it. */
  #queuePath = '';
  #closing = false;
  readonly #proxy: ProxyProtocol;

  constructor(events: EventBus, logger: Logger) {
    this.events = events;
    this.#logger = logger;
    this.#proxy = new ProxyProtocol(events);
    this.control = new ControlServer((verb, error) =>
      logger.error({ event: 'control.fault', verb, error: describeError(error) }, 'a control command failed'),
    );
    logEvents(events, logger);
  }

  get listeners(): RunningListener[] {
    return this.#listeners.running;
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
    this.#metrics = metrics;
    // Closes after the sessions: their last events still count.
    this.#lifecycle.onClose('metrics', () => metrics.close());

    this.#shared = { events: this.events, logger, spool, directories };
    this.#queuePath = config.queue.path;
    this.#serve(await this.#build(1, config));
    this.#lifecycle.onClose('sessions', ({ graceMs }) =>
      Promise.all([...this.#generations].map((g) => g.close(graceMs))).then(() => undefined),
    );

    // Bound before any SMTP port: a second server on the same control socket, and so usually the same
    // spool, stops here. Closed right after the listeners, so that a new server can start while this
    // one drains (a restart).
    this.control.register('status', async () => this.#status(await spool.count()));
    this.control.register('reload', () => this.reload());
    await this.#listenControl(config.server.controlSocket);
    this.#lifecycle.onClose('control', () => this.control.close());

    // A reload under way finishes (or gives up) first: it may be binding new addresses.
    // Sockets still in their PROXY header when the listeners have stopped are cut, not drained.
    this.#lifecycle.onClose('proxy', () => this.#proxy.close());
    // A reload under way finishes (or gives up) first: it may be binding new addresses.
    this.#lifecycle.onClose('listeners', () => this.#changes.settled().then(() => this.#listeners.close()));
    await this.#listeners.start(config.listeners);
    for (const l of this.listeners) this.#logListener(l.id);
  }

  address(listenerId: string): AddressInfo {
    const address = this.listeners.find((l) => l.id === listenerId)?.addresses[0];
    if (address === undefined) throw new Error(`no listener "${listenerId}"`);
    return address;
  }

  reload(): Promise<ReloadResult> {
    // A request made while another waits its turn joins it: that one reads the file late enough for both.
    this.#waitingReload ??= this.#changes.run(async () => {
      this.#waitingReload = undefined;
      const source = this.config.source;
      let config: Config;
      try {
        config = loadConfigFile(source);
      } catch (error) {
        return this.#refused(source, problemsOf(error, source));
      }
      return this.#apply(config);
    });
    return this.#waitingReload;
  }

  swap(config: Config): Promise<ReloadResult> {
    return this.#changes.run(() => this.#apply(config));
  }

  close(graceMs = 10_000): Promise<void> {
    this.#closing = true;
    return this.#lifecycle.close({ graceMs }, (name, error) =>
      error === undefined
        ? this.#logger.debug({ event: 'shutdown.step', step: name })
        : this.#logger.error({ event: 'shutdown.step', step: name, error: describeError(error) }, 'a service failed to close'),
    );
  }

  /**
   * The default path may be unusable (a read-only working directory): then the server runs without
   * a control socket and says so. A path the config names must bind, and so must one another
   * Postern holds (it would share the spool).
   */
  async #listenControl(path: string | null): Promise<void> {
    if (path === null) return;
    try {
      await this.control.listen(path);
    } catch (error) {
      if (path !== DEFAULT_CONTROL_SOCKET || error instanceof ControlSocketInUse) throw error;
      this.#logger.warn(
        { event: 'control.unavailable', path, error: describeError(error) },
        'no control socket at the default path: postern status, reload and the other commands cannot reach this server; set server.control-socket',
      );
    }
  }

  /**
   * A socket accepted on `listenerId`: the current generation serves it (a listener a reload is adding:
   * the new one), once its PROXY header, if its peer must send one, has named the client.
   */
  #dispatch(listenerId: string, socket: Socket): void {
    // Trust is that of the config holding the listener at the accept (only the new one, for a listener being added).
    const current = this.generation.config;
    const config = current.listeners.some((l) => l.id === listenerId) ? current : (this.#pending?.config ?? current);
    void this.#proxy.client(listenerId, socket, config).then((client) => {
      // Nothing we could say: no generation has the listener the socket came in on.
      if (client !== null && !this.generation.accept(listenerId, socket, client) && !this.#pending?.accept(listenerId, socket, client)) socket.destroy();
    });
  }

  /** Generation `id` of `config`, and how many seconds it took to build. */
  async #build(id: number, config: Config): Promise<{ generation: Generation; seconds: number }> {
    if (this.#shared === undefined) throw new Error('Postern has not started');
    const started = performance.now();
    const generation = await Generation.build(id, config, this.#shared);
    return { generation, seconds: (performance.now() - started) / 1000 };
  }

  #serve({ generation, seconds }: { generation: Generation; seconds: number }): void {
    this.#current = generation;
    this.#generations.add(generation);
    this.events.emit({ type: 'generation.started', generation: generation.id, seconds });
  }

  /**
   * Swaps `config` in: builds its generation, binds what its listeners and control socket add, then —
   * in one synchronous step, so no connection falls between the two — closes what it drops and serves
   * new sessions with it. Any failure on the way undoes the steps before it.
   */
  async #apply(config: Config): Promise<ReloadResult> {
    const source = config.source;
    if (this.#closing) return this.#refused(source, ['the server is shutting down']);
    const previous = this.generation;
    let built: { generation: Generation; seconds: number };
    try {
      built = await this.#build(previous.id + 1, config);
    } catch (error) {
      return this.#refused(source, problemsOf(error, source));
    }
    const next = built.generation;
    let listeners: ListenerChange | undefined;
    let control: { commit(): void; abort(): void } | undefined;
    this.#pending = next;
    this.#generations.add(next);
    try {
      listeners = await this.#listeners.prepare(config.listeners);
      control = await this.control.prepareMove(config.server.controlSocket).catch((error: unknown) => {
        throw new ConfigError([{ file: source, key: 'server.control-socket', message: describeError(error) }]);
      });
      if (this.#closing) throw new Error('the server is shutting down');
    } catch (error) {
      listeners?.abort();
      this.#pending = undefined;
      void next.close().then(() => this.#generations.delete(next));
      return this.#refused(source, problemsOf(error, source));
    }
    this.#pending = undefined;
    const moved = listeners.commit();
    control.commit();
    this.#serve(built);
    void previous.close().then(() => {
      this.#generations.delete(previous);
      this.#logger.info({ event: 'generation.closed', generation: previous.id });
    });

    for (const id of [...moved.added, ...moved.rebound]) this.#logListener(id);
    for (const id of moved.removed) this.#logger.info({ event: 'listener.down', listener: id });
    const warnings = [...config.warnings];
    if (config.queue.path !== this.#queuePath) {
      warnings.push(formatProblem({ file: source, key: 'queue.path', message: `the queue stays at ${this.#queuePath} until a restart` }));
    }
    for (const warning of warnings) this.#logger.warn({ event: 'config.warning' }, warning);
    this.events.emit({ type: 'config.reload', source, result: 'ok', generation: next.id, problems: 0 });
    return { ok: true, generation: next.id, source, problems: [], warnings };
  }

  #refused(source: string, problems: string[]): ReloadResult {
    for (const problem of problems) this.#logger.error({ event: 'config.problem' }, problem);
    const generation = this.generation.id;
    this.events.emit({ type: 'config.reload', source, result: 'error', generation, problems: problems.length });
    return { ok: false, generation, source, problems, warnings: [] };
  }

  #logListener(id: string): void {
    const l = this.listeners.find((listener) => listener.id === id);
    if (l !== undefined) this.#logger.info({ event: 'listener.up', listener: l.id, protocol: l.protocol, addresses: l.addresses.map(formatAddress) });
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
