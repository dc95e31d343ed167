// One server per listener: smtp listeners run Postern sessions, http listeners serve /metrics.
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { SMTPServerOptions } from 'smtp-server';
import type { ListenerConfig } from '../config/types.js';
import { PosternSmtpServer } from './connection.js';
import { receiveMessage } from './data.js';
import type { SessionServices } from './session.js';
import type { KeyPair } from './tls.js';

/** smtp-server's parser limit; SASL lines over 12 KiB are refused by the AUTH stage, not cut here. */
const MAX_COMMAND_LINE = 64 * 1024;
const DRAIN_POLL_MS = 50;

export interface RunningListener {
  id: string;
  protocol: ListenerConfig['protocol'];
  addresses: AddressInfo[];
  /** Stops accepting; resolves when every session has ended or `graceMs` has passed. */
  close(graceMs: number): Promise<void>;
}

function smtpServerOptions(listener: ListenerConfig, services: SessionServices, keys: KeyPair | null): SMTPServerOptions {
  const tls = listener.tls.enable && keys !== null;
  return {
    ...(tls ? { key: keys.key, cert: keys.cert } : {}),
    secure: tls && listener.tls.implicit,
    hideSTARTTLS: !tls || listener.tls.implicit,
    disabledCommands: tls ? [] : ['STARTTLS'],
    name: listener.hostname,
    logger: false,
    disableReverseLookup: true,
    // The AUTH stage and `require` are Postern's; smtp-server must not add its own checks.
    authOptional: true,
    maxAllowedUnauthenticatedCommands: false,
    hideENHANCEDSTATUSCODES: false,
    size: services.maxMessageSize,
    maxCommandLength: MAX_COMMAND_LINE,
    onData(stream, session, callback) {
      void receiveMessage(stream, session, listener, services).then((reply) => {
        if (reply.code < 400) return callback(null, reply.text);
        callback(Object.assign(new Error(reply.text), { responseCode: reply.code }));
      });
    },
    onSecure(socket, session, callback) {
      const cipher = (socket as TLSSocket).getCipher?.()?.name;
      services.events.emit({ type: 'session.tls', sessionId: session.id, listener: listener.id, ok: true, ...(cipher ? { cipher } : {}) });
      callback();
    },
    onClose(session) {
      services.events.emit({ type: 'session.close', sessionId: session.id, listener: listener.id });
    },
  };
}

export async function startSmtpListener(listener: ListenerConfig, services: SessionServices, keys: KeyPair | null): Promise<RunningListener> {
  // smtp-server wraps a single net.Server, so each bind address gets its own.
  const servers: PosternSmtpServer[] = [];
  const addresses = await bindAll(listener, (host, port) => {
    const server = new PosternSmtpServer(smtpServerOptions(listener, services, keys), listener, services);
    server.on('error', (err: Error & { code?: string }) => {
      // Socket-level errors end one connection, never the listener; failed handshakes are counted.
      if (isTlsError(err)) {
        services.events.emit({ type: 'session.tls', sessionId: '', listener: listener.id, ok: false, reason: err.code ?? 'TLS_ERROR' });
      }
    });
    servers.push(server);
    return server.listen(port, host);
  });
  return {
    id: listener.id,
    protocol: 'smtp',
    addresses,
    close: async (graceMs) => {
      await Promise.all(servers.map((server) => drain(server, graceMs)));
    },
  };
}

/**
 * Stops accepting, lets open sessions carry on (smtp-server's own close() would answer their next
 * command with 421) until they end or the grace period is over, then closes what is left.
 */
async function drain(server: PosternSmtpServer, graceMs: number): Promise<void> {
  server.server.close();
  const deadline = Date.now() + graceMs;
  while (server.connections.size > 0 && Date.now() < deadline) await sleep(DRAIN_POLL_MS);
  server.options.closeTimeout = 1; // 0 would mean smtp-server's 30 s default
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

export async function startHttpListener(
  listener: ListenerConfig,
  handle: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<RunningListener> {
  const servers: HttpServer[] = [];
  const addresses = await bindAll(listener, (host, port) => {
    const server = createServer(handle);
    servers.push(server);
    return server.listen(port, host);
  });
  return {
    id: listener.id,
    protocol: 'http',
    addresses,
    close: async () => {
      await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    },
  };
}

function isTlsError(err: Error & { code?: string }): boolean {
  return /^ERR_SSL_|^ERR_TLS_/.test(err.code ?? '') || /SSL|TLS|handshake/i.test(err.message);
}

async function bindAll(listener: ListenerConfig, listen: (host: string, port: number) => NetServer): Promise<AddressInfo[]> {
  const servers = listener.bind.map(({ host, port }) => listen(host, port));
  const bound = await Promise.allSettled(
    servers.map(async (server) => {
      await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err))]);
      return server.address() as AddressInfo;
    }),
  );
  const failed = bound.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed === undefined) return bound.map((result) => (result as PromiseFulfilledResult<AddressInfo>).value);
  // One address failed: free those that bound, or they would hold their ports and keep the process alive.
  await Promise.all(servers.filter((s) => s.listening).map((s) => new Promise((resolve) => s.close(resolve))));
  throw failed.reason;
}
