// The composition root: config in, running Postern out. Everything long-lived is made here, once.
import type { AddressInfo } from 'node:net';
import { createVerifiers } from './auth/registry.js';
import { ruleUses } from './config/rules.js';
import type { CertificateConfig, Config } from './config/types.js';
import { EventBus } from './events.js';
import { logEvents, type Logger } from './log.js';
import { createMetrics } from './metrics/index.js';
import { WorkerPool } from './pool.js';
import { startHttpListener, startSmtpListener, type RunningListener } from './smtp/listeners.js';
import type { SessionServices } from './smtp/session.js';
import { SettingsResolver } from './smtp/settings.js';
import { loadCertificate, type KeyPair } from './smtp/tls.js';
import { Spool } from './spool/spool.js';

export interface RunningPostern {
  readonly config: Config;
  readonly events: EventBus;
  readonly listeners: RunningListener[];
  /** The first bound address of a listener (tests bind port 0). */
  address(listenerId: string): AddressInfo;
  /** Stops accepting, lets sessions finish within `graceMs`, then stops the pool and lookups. */
  close(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  logger: Logger;
  events?: EventBus;
}

export async function startPostern(config: Config, { logger, events = new EventBus() }: StartOptions): Promise<RunningPostern> {
  logEvents(events, logger);
  for (const warning of config.warnings) logger.warn({ event: 'config.warning' }, warning);

  const spool = new Spool(config.queue.path);
  const swept = await spool.init();
  if (swept > 0) logger.warn({ event: 'spool.swept', files: swept }, 'removed half-written files a previous run left in the queue tmp/');
  const pool = new WorkerPool({ ...config.server.workers, rules: config.auth, events });
  const verifiers = createVerifiers(config, pool, events);
  const metrics = createMetrics(events, {
    listeners: config.listeners.filter((l) => l.protocol === 'smtp').map((l) => l.id),
    pool,
    remotes: verifiers.remotes,
  });
  const services: SessionServices = {
    pool,
    settings: new SettingsResolver(pool, config.auth),
    verifiers: verifiers.byPath,
    events,
    spool,
    maxMessageSize: config.data.maxSize,
    mechanismsFollowHelo: ruleUses(config.auth.mechanisms, 'helo-domain'),
  };

  const keys = new Map<string, Promise<KeyPair>>();
  const keysFor = (certificate: CertificateConfig, hostname: string): Promise<KeyPair> => {
    let pair = keys.get(certificate.id);
    if (pair === undefined) {
      pair = loadCertificate(certificate, hostname, (c) =>
        logger.warn({ event: 'tls.generated', cert: c.cert, key: c.privateKey }, 'generated a self-signed certificate; replace it for production'),
      );
      keys.set(certificate.id, pair);
    }
    return pair;
  };

  const listeners: RunningListener[] = [];
  const shutdown = async (graceMs: number): Promise<void> => {
    await Promise.all(listeners.map((l) => l.close(graceMs)));
    await spool.settled();
    await Promise.all([...verifiers.byPath.values()].map((v) => v.close()));
    await pool.close();
    metrics.close();
  };

  try {
    for (const listener of config.listeners) {
      if (listener.protocol === 'http') {
        listeners.push(await startHttpListener(listener, metrics.handle));
        continue;
      }
      const certificate = listener.tls.enable ? listener.tls.certificate : null;
      const pair = certificate === null ? null : await keysFor(certificate, listener.hostname);
      listeners.push(await startSmtpListener(listener, services, pair));
    }
  } catch (err) {
    await shutdown(0);
    throw err;
  }

  for (const l of listeners) {
    logger.info({ event: 'listener.up', listener: l.id, protocol: l.protocol, addresses: l.addresses.map(formatAddress) });
  }

  return {
    config,
    events,
    listeners,
    address(listenerId) {
      const address = listeners.find((l) => l.id === listenerId)?.addresses[0];
      if (address === undefined) throw new Error(`no listener "${listenerId}"`);
      return address;
    },
    close: (graceMs = 10_000) => shutdown(graceMs),
  };
}

export function formatAddress(a: AddressInfo): string {
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
