// One credential check: a fresh imapflow connection that logs in with the client's credentials, then logs out.
import { ImapFlow, type ImapFlowOptions, type ImapTransport, type ImapTransportOptions, type ImapTransportSocket } from 'imapflow';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type SecureContext } from 'node:tls';
import type { ClientInfo, Verdict } from '../verdict.js';
import type { RemoteConfig } from '../../config/types.js';
import { TempFailure } from '../../errors.js';
import type { Credentials } from '../../sasl/types.js';
import { classify } from './classify.js';

type TokenMechanism = 'OAUTHBEARER' | 'XOAUTH2';

// imapflow authenticates from its internal authenticate(), after the greeting, STARTTLS and the
// refreshed CAPABILITY. It is not in imapflow's typings, so it is reached through the prototype;
// checked at load so an imapflow upgrade that renames it fails loudly instead of skipping the pin.
const inheritedAuthenticate = (ImapFlow.prototype as unknown as { authenticate?: (this: ImapFlow) => Promise<boolean> })
  .authenticate;
if (typeof inheritedAuthenticate !== 'function') throw new Error('imapflow has no authenticate(); the mechanism pin needs updating');
const authenticate = inheritedAuthenticate;

/**
 * imapflow picks OAUTHBEARER whenever the server offers it, even for an XOAUTH2 token. This pins the
 * mechanism the client used: the server must offer it (else temporary failure), and for XOAUTH2
 * OAUTHBEARER is hidden from this connection's capability list so imapflow takes XOAUTH2.
 */
class PinnedMechanismImapFlow extends ImapFlow {
  readonly #mechanism: TokenMechanism | null;

  constructor(options: ImapFlowOptions, mechanism: TokenMechanism | null) {
    super(options);
    this.#mechanism = mechanism;
  }

  async authenticate(): Promise<boolean> {
    // A PREAUTH greeting logs the session in before any credentials are sent (imapflow then skips
    // authentication): the server checked nothing, so this must not become a 235 and a cached positive.
    if (this.authenticated !== false) throw new TempFailure('IMAP server pre-authenticated the session (PREAUTH); credentials not checked');
    if (this.#mechanism !== null) {
      if (!this.capabilities.has(`AUTH=${this.#mechanism}`)) {
        throw new TempFailure(`IMAP server does not offer AUTH=${this.#mechanism}`);
      }
      if (this.#mechanism === 'XOAUTH2') {
        const capabilities = new Map(this.capabilities);
        capabilities.delete('AUTH=OAUTHBEARER');
        this.capabilities = capabilities;
      }
    }
    return authenticate.call(this);
  }
}

/**
 * TLS options as imapflow builds them itself (SNI when the host is a name, `host` for an IP's identity
 * check), over the remote's one TLS context: building a context per connection cost ~0.4 ms of
 * main-thread CPU per check in the cold-path profile, and every check uses the same settings.
 */
function tlsOptions(o: ImapTransportOptions, secureContext: SecureContext): ConnectionOptions {
  return { host: o.host, port: o.port, ...(o.servername ? { servername: o.servername } : {}), ...o.tls, secureContext };
}

/**
 * node:net and node:tls, opened the way imapflow opens them by default, through its documented
 * `transport` hook: it hands us the socket, so a check can hold its concurrency slot until the
 * connection is really closed, not merely abandoned.
 */
function trackingTransport(secureContext: SecureContext, onSocket: (socket: ImapTransportSocket) => void): ImapTransport {
  return {
    connect(o, onConnect) {
      const socket = o.secure ? tlsConnect(tlsOptions(o, secureContext), onConnect) : tcpConnect({ host: o.host, port: o.port }, onConnect);
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

function options(remote: RemoteConfig, credentials: Credentials, client: ClientInfo | undefined, transport: ImapTransport): ImapFlowOptions {
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
    // Logs in, then logs out: no IDLE, no COMPRESS, no ENABLE; the connection is never reused.
    verifyOnly: true,
    disableCompression: true,
    disableAutoIdle: true,
    // imapflow's logger would be one more place credentials and user names could leak to.
    logger: false,
    // Sent in ID before authenticating: Dovecot (from login_trusted_networks) then logs the SMTP client's
    // address and applies its per-IP auth penalty to that client, not to every user behind Postern.
    clientInfo: { name: 'Postern', ...(client === undefined ? {} : { 'x-originating-ip': client.remoteIp }) },
    // Our own timer bounds the whole check; imapflow's (16 s greeting, 90 s connect, 5 min socket by
    // default) are set to the same bound so none of them can outlast or second-guess it.
    connectionTimeout: remote.timeout,
    greetingTimeout: remote.timeout,
    socketTimeout: remote.timeout,
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
    imap = new PinnedMechanismImapFlow(options(remote, credentials, client, transport), mechanism);
    // A late socket error after we have given up must not become an unhandled 'error' event.
    imap.on('error', () => {});
    // With verifyOnly, connect() is the whole check: connect, greeting, STARTTLS, auth, LOGOUT.
    await Promise.race([imap.connect(), expired]);
    return { kind: 'ok', user: credentials.user };
  } catch (err) {
    const classification = classify(err);
    return classification.kind === 'bad' ? { kind: 'bad' } : classification;
  } finally {
    clearTimeout(timer);
    // Destroys the socket if still open (timeout, failure); a no-op after LOGOUT closed it. Never reused.
    imap?.close();
  }
}
