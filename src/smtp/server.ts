// One smtp-server per SMTP listener and config generation, with that generation's settings and
// certificate. It never listens: the listener's sockets are handed to it (src/smtp/listeners.ts).
import type { TLSSocket } from 'node:tls';
import type { SMTPServerOptions } from 'smtp-server';
import type { ListenerConfig } from '../config/types.js';
import { PosternSmtpServer } from './connection.js';
import type { SessionServices } from './session.js';
import type { KeyPair } from './tls.js';

/** smtp-server's parser limit; SASL lines over 12 KiB are refused by the AUTH stage, not cut here. */
const MAX_COMMAND_LINE = 64 * 1024;

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

export function createSmtpServer(listener: ListenerConfig, services: SessionServices, keys: KeyPair | null): PosternSmtpServer {
  const server = new PosternSmtpServer(smtpServerOptions(listener, services, keys), listener, services);
  server.on('error', (err: Error & { code?: string }) => {
    // Socket-level errors end one connection, never the listener; failed handshakes are counted.
    if (isTlsError(err)) {
      services.events.emit({ type: 'session.tls', sessionId: '', listener: listener.id, ok: false, reason: err.code ?? 'TLS_ERROR' });
    }
  });
  return server;
}

function isTlsError(err: Error & { code?: string }): boolean {
  return /^ERR_SSL_|^ERR_TLS_/.test(err.code ?? '') || /SSL|TLS|handshake/i.test(err.message);
}
