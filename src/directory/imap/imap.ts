// One credential check: a fresh imapflow connection that logs in with the client's credentials, then closes.
import type { ImapFlow, ImapTransport, ImapTransportOptions, ImapTransportSocket } from 'imapflow';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type SecureContext } from 'node:tls';
import type { ClientInfo, Verdict } from '../verdict.js';
import type { RemoteConfig } from '../../config/types.js';
import { TempFailure } from '../../errors.js';
import type { Credentials } from '../../sasl/types.js';
import { classify } from './classify.js';
import { CheckSession, type CheckSessionOptions } from './session.js';

/**
 * TLS options as imapflow builds them itself (SNI when the host is a name, `host` for an IP's identity
 * check), over the remote's one TLS context: building a context per connection cost ~0.4 ms of
 * main-thread CPU per check in the cold-path profile, and every check uses the same settings.
 */
function tlsOptions(o: ImapTransportOptions, secureContext: SecureContext): ConnectionOptions {
  return { host: o.host, port: o.port, ...(o.servername ? { servername: o.servername } : {}), ...o.tls, secureContext };
}

/**
 * node:net and node:tls, opened as imapflow opens them by default (plus noDelay), through its
 * documented `transport` hook: it hands us the socket, so a check can hold its concurrency slot
 * until the connection is really closed, not merely abandoned.
 */
function trackingTransport(secureContext: SecureContext, onSocket: (socket: ImapTransportSocket) => void): ImapTransport {
  return {
    connect(o, onConnect) {
      // noDelay: a flight written in pieces (the TLS Finished, then the command after it) leaves at
      // once; with Nagle the second piece would wait for the first one's acknowledgement, a round trip.
      const tcp = tcpConnect({ host: o.host, port: o.port, noDelay: true }, o.secure ? undefined : onConnect);
      const socket = o.secure ? tlsConnect({ ...tlsOptions(o, secureContext), socket: tcp }, onConnect) : tcp;
      onSocket(socket);
      return socket;
    },
    upgrade(socket, o, onSecure) {
      const secure = tlsConnect({ ...tlsOptions(o, secureContext), socket: socket as Socket }, onSecure);
      onSocket(secure);
      return secure;
    },
  };
}

let checks = 0;

function options(remote: RemoteConfig, credentials: Credentials, client: ClientInfo | undefined, transport: ImapTransport): CheckSessionOptions {
  return {
    host: remote.address,
    port: remote.port,
    transport,
    // Never credentials in clear: implicit TLS, or STARTTLS required (imapflow fails if it is not offered).
    ...(remote.tls.implicit ? { secure: true } : { secure: false, doSTARTTLS: true }),
    // Verifies the chain and the name `address` (imapflow passes it as servername, or as host for an IP).
    tls: { rejectUnauthorized: !remote.tls.allowInvalidCerts },
    auth:
      credentials.kind === 'password'
        ? { user: credentials.user, pass: credentials.password }
        : { user: credentials.user, accessToken: credentials.token },
    // The session ends at the verdict (CheckSession), so connect() settles with it, not with a close.
    verifyOnly: true,
    // imapflow's logger would be one more place credentials and user names could leak to.
    logger: false,
    // Sent in ID before authenticating: Dovecot (from login_trusted_networks) then logs the SMTP client's
    // address and applies its per-IP auth penalty to that client, not to every user behind Postern.
    clientInfo: { name: 'Postern', ...(client === undefined ? {} : { 'x-originating-ip': client.remoteIp }) },
    // Our own timer bounds the whole check; imapflow's connect and greeting timers (90 s and 16 s by
    // default) are set to the same bound so neither can outlast or second-guess it. Its socket
    // inactivity timer is not armed at all (CheckSession.configureSocket).
    connectionTimeout: remote.timeout,
    greetingTimeout: remote.timeout,
    // Only its logs would show it (none here): a counter instead of the random one it draws per connection.
    id: String(++checks),
  };
}

export interface RunningCheck {
  /** The answer. Never rejects: infrastructure faults come back as `tempfail`. */
  verdict: Promise<Verdict>;
  /** Resolves once the connection is closed (after `verdict`): until then it counts toward `concurrency`. */
  closed: Promise<void>;
}

/**
 * Starts one check against `remote` on a fresh connection, bounded as a whole by `remote.timeout`.
 * `secureContext`: the remote's TLS context (tls.createSecureContext()), shared by its checks.
 */
export function startCheck(remote: RemoteConfig, secureContext: SecureContext, credentials: Credentials, client?: ClientInfo): RunningCheck {
  let socket: ImapTransportSocket | undefined;
  const verdict = check(remote, credentials, client, trackingTransport(secureContext, (opened) => (socket = opened)));
  const closed = verdict.then(async () => {
    const last = socket; // after an upgrade, the TLS socket: closing it closes the TCP one under it
    if (last !== undefined && !last.closed) await new Promise((resolve) => last.once('close', resolve));
  });
  return { verdict, closed };
}

async function check(remote: RemoteConfig, credentials: Credentials, client: ClientInfo | undefined, transport: ImapTransport): Promise<Verdict> {
  let imap: ImapFlow | undefined;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new TempFailure(`IMAP check timed out after ${remote.timeout} ms`)), remote.timeout);
  });
  try {
    const mechanism = credentials.kind === 'token' ? credentials.mechanism : null;
    imap = new CheckSession(options(remote, credentials, client, transport), mechanism);
    // A late socket error after we have given up must not become an unhandled 'error' event.
    imap.on('error', () => {});
    // connect() is the whole check: connect, greeting, STARTTLS or implicit TLS, authentication.
    await Promise.race([imap.connect(), expired]);
    return { kind: 'ok', user: credentials.user };
  } catch (err) {
    const classification = classify(err);
    return classification.kind === 'bad' ? { kind: 'bad' } : classification;
  } finally {
    clearTimeout(timer);
    // Destroys the socket: after the verdict there is nothing more to say (no LOGOUT to wait for). Never
    // reused. One macrotask later: the verdict settles while imapflow is still inside the chunk that
    // carried it, and closing then destroys its parser stream with that chunk pending, which builds an
    // ERR_STREAM_DESTROYED (stack trace and all) per check for nothing.
    const session = imap;
    setImmediate(() => session?.close());
  }
}
