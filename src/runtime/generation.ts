// A config generation: everything the config defines, built together and replaced together — the
// worker pool (its rules travel as workerData), the connect-time settings resolver, the directory
// backends, the session services and one smtp-server per SMTP listener with its certificate. A
// connection is served by the generation current when it connected, to its end; a replaced generation
// closes once its last session has ended (or the shutdown's grace period is over).
import type { Socket } from 'node:net';
import { formatKey } from '../config/key-path.js';
import { ruleUses } from '../config/rules.js';
import type { CertificateConfig, Config } from '../config/types.js';
import type { Directories, DirectorySet } from '../directory/registry.js';
import { ConfigError, describeError } from '../errors.js';
import type { EventBus } from '../events.js';
import type { Logger } from '../log.js';
import { WorkerPool } from '../pool/pool.js';
import { RuleEvaluator } from '../pool/remembered.js';
import type { Peer, PosternSmtpServer } from '../smtp/connection.js';
import { createSmtpServer } from '../smtp/server.js';
import type { SessionServices } from '../smtp/session.js';
import { SettingsResolver } from '../smtp/settings.js';
import { loadCertificate, type KeyPair } from '../smtp/tls.js';
import type { Spool } from '../spool/spool.js';

/** The long-lived parts a generation uses but does not own. */
export interface LongLived {
  events: EventBus;
  logger: Logger;
  spool: Spool;
  directories: Directories;
}

/** After the drain, how long the sessions told 421 get to close their sockets before they are cut. */
const CLOSE_LINGER_MS = 1_000;

export class Generation {
  readonly #servers: ReadonlyMap<string, PosternSmtpServer>;
  readonly #backends: DirectorySet;
  /** Resolves the drain wait early: the grace period is over. */
  #cut: () => void = () => {};
  readonly #cutShort = new Promise<void>((resolve) => (this.#cut = resolve));
  #closing: Promise<void> | undefined;

  private constructor(
    readonly id: number,
    readonly config: Config,
    readonly pool: WorkerPool,
    readonly services: SessionServices,
    backends: DirectorySet,
    servers: ReadonlyMap<string, PosternSmtpServer>,
  ) {
    this.#backends = backends;
    this.#servers = servers;
  }

  /** Builds generation `id` from `config`: starts its pool, takes its backends, reads its certificates. */
  static async build(id: number, config: Config, shared: LongLived): Promise<Generation> {
    const pool = new WorkerPool({ ...config.server.workers, rules: config.auth, named: config.rules, events: shared.events });
    const backends = shared.directories.open(config, pool);
    try {
      // Its first sessions would wait for the workers to start: until one answers, the generation
      // before it serves them instead (and a pool that cannot start refuses the generation).
      await pool.mechanisms({ listener: '', 'remote-ip': '', 'local-ip': '', 'helo-domain': '' });
      const services: SessionServices = {
        pool,
        settings: new SettingsResolver(pool, config.auth),
        rules: new RuleEvaluator(pool, config.rules),
        verifiers: backends.byPath,
        events: shared.events,
        spool: shared.spool,
        maxMessageSize: config.data.maxSize,
        mechanismsFollowHelo: ruleUses(config.auth.mechanisms, 'helo-domain'),
      };
      const keys = certificateLoader(shared.logger);
      const servers = new Map<string, PosternSmtpServer>();
      for (const listener of config.listeners) {
        if (listener.protocol !== 'smtp') continue;
        const certificate = listener.tls.enable ? listener.tls.certificate : null;
        try {
          const pair = certificate === null ? null : await keys(certificate, listener.hostname);
          servers.set(listener.id, createSmtpServer(listener, services, pair));
        } catch (error) {
          // A missing or unreadable file, a bad PEM, a key that is not the certificate's: a config problem.
          if (certificate === null) throw error;
          throw new ConfigError([{ file: config.source, key: formatKey(['certificate', certificate.id]), message: describeError(error) }]);
        }
      }
      return new Generation(id, config, pool, services, backends, servers);
    } catch (error) {
      await backends.release();
      await pool.close();
      throw error;
    }
  }

  /** Sessions (and sockets about to be sessions) still open. */
  get sessions(): number {
    let open = 0;
    for (const server of this.#servers.values()) open += server.active;
    return open;
  }

  /**
   * Serves `socket` on `listenerId`, as a session of `peer` when given (else of the socket's own peer);
   * false when this generation has no such SMTP listener (the caller drops it).
   */
  accept(listenerId: string, socket: Socket, peer?: Peer): boolean {
    const server = this.#servers.get(listenerId);
    if (server === undefined || this.#closing !== undefined) return false;
    server.accept(socket, peer);
    return true;
  }

  /**
   * Lets open sessions finish — for up to `graceMs`, or for as long as they take when replaced by a
   * newer generation — then tells the rest 421 and closes them, then closes the pool and gives the
   * backends back. Called again with a shorter grace (a shutdown during a drain), it cuts the wait.
   */
  close(graceMs = Number.POSITIVE_INFINITY): Promise<void> {
    if (Number.isFinite(graceMs)) setTimeout(this.#cut, graceMs).unref();
    this.#closing ??= this.#drain();
    return this.#closing;
  }

  async #drain(): Promise<void> {
    const drained = (): Promise<unknown> => Promise.all([...this.#servers.values()].map((server) => server.idle()));
    await Promise.race([drained(), this.#cutShort]);
    if (this.sessions > 0) {
      for (const server of this.#servers.values()) server.closeSessions();
      // A client that never closes its side would hold its socket for smtp-server's own 5 s deadline.
      await Promise.race([drained(), new Promise<void>((resolve) => setTimeout(resolve, CLOSE_LINGER_MS).unref())]);
      for (const server of this.#servers.values()) server.closeSessions(true);
      await drained();
    }
    await this.#backends.release();
    await this.pool.close();
  }
}

/** Reads each certificate once per generation (a reload re-reads them); a missing pair is generated self-signed. */
function certificateLoader(logger: Logger): (certificate: CertificateConfig, hostname: string) => Promise<KeyPair> {
  const keys = new Map<string, Promise<KeyPair>>();
  return (certificate, hostname) => {
    let pair = keys.get(certificate.id);
    if (pair === undefined) {
      pair = loadCertificate(certificate, hostname, (c) =>
        logger.warn({ event: 'tls.generated', cert: c.cert, key: c.privateKey }, 'generated a self-signed certificate; replace it for production'),
      );
      keys.set(certificate.id, pair);
    }
    return pair;
  };
}
