// The one adapter over smtp-server's internals (version pinned in package.json: 3.21.6).
// smtp-server runs the command loop, STARTTLS, MAIL/RCPT/DATA parsing and the data stream. Postern
// takes over, per connection (no global patching):
//   accept()                — sockets come from Postern's own listeners (src/smtp/listeners.ts), so one
//                             smtp-server per listener and config generation never listens itself;
//   init()                  — without the hard-coded 100 ms early-talker delay before the greeting;
//   connectionReady()       — resolves the session's auth rules in the worker pool first;
//   _sendGreeting()         — "220 <hostname> <greeting>";
//   handler_EHLO            — capabilities from the session's rules (mechanisms can test helo-domain);
//   handler_AUTH            — the AUTH stage (src/smtp/auth.ts), incl. OAUTHBEARER which smtp-server lacks;
//   handler_MAIL            — `require` (src/smtp/mail.ts);
//   onData                  — DATA with the session's context (src/smtp/data.ts);
//   _getEnhancedStatusCode  — Postern's enhanced codes where smtp-server's table differs.
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import type { ListenerConfig } from '../config/types.js';
import type { Mechanism } from '../sasl/types.js';
import { runAuth, type AuthIO } from './auth.js';
import { receiveMessage } from './data.js';
import { ehloLines } from './ehlo.js';
import { checkMailFrom } from './mail.js';
import { enhancedOverrides, replyText, Replies, type Reply } from './replies.js';
import { ruledMechanisms, usableMechanisms, type SessionContext, type SessionServices } from './session.js';

/** A domain or an address literal; anything with spaces or control characters is refused. */
const HELO_NAME = /^(?:\[[^\]\s]{1,253}\]|[\p{L}\p{N}_.-]{1,253})$/u;

type Callback = () => void;
type DataCallback = (err?: Error | null, message?: string) => void;

/** The client a socket speaks for, when it is not the socket's peer (a PROXY protocol header said so). */
export interface Peer {
  address: string;
  port: number;
}

/** Each connection's context by its smtp-server session, for the callbacks smtp-server hands only the session. */
const contexts = new WeakMap<SMTPServerSession, SessionContext>();

/** The login smtp-server keeps on the session (set by AUTH, cleared by STARTTLS), null before AUTH. */
function sessionUser(session: SMTPServerSession): string | null {
  // smtp-server starts the session with `user: false`.
  const user = session.user as { username?: unknown } | string | false | undefined;
  if (!user) return null;
  return typeof user === 'string' ? user : String(user.username ?? user);
}

const address = (a: { address: string } | false): string => (a === false ? '' : a.address);

export class PosternSmtpServer extends SMTPServer {
  /** Accepted sockets not yet a session (in the TLS handshake or about to connect). */
  readonly #arriving = new Set<Socket>();
  /**
   * Sessions until their connection has closed. Counted here, not by socket: a socket upgraded by
   * STARTTLS hands its handle to the TLS socket and never emits 'close' itself.
   */
  readonly #open = new Set<SMTPConnection>();
  #idleWaiters: (() => void)[] = [];
  readonly #peers = new WeakMap<Socket, Peer>();

  constructor(
    options: SMTPServerOptions,
    readonly listener: ListenerConfig,
    readonly services: SessionServices,
  ) {
    super(options);
  }

  /**
   * Serves a socket a Postern listener accepted. smtp-server's own accept path runs (its pre-session
   * guard, implicit TLS handshake, connection id); only its net.Server never listens.
   */
  accept(socket: Socket, peer?: Peer): void {
    if (peer !== undefined) this.#peers.set(socket, peer);
    this.#arriving.add(socket);
    socket.once('close', () => this.#left(() => this.#arriving.delete(socket)));
    this.server.emit('connection', socket);
  }

  /** Sockets accepted and sessions not yet over. */
  get active(): number {
    return this.#arriving.size + this.#open.size;
  }

  /** Resolves once nothing is active. */
  idle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** PosternConnection reports its end here. */
  ended(connection: SMTPConnection): void {
    this.#left(() => this.#open.delete(connection));
  }

  /** smtp-server's own PROXY reading is off (useProxy unset); this is where a peer given to accept() becomes the session's address. */
  override _handleProxy(socket: Socket, callback: Parameters<SMTPServer['_handleProxy']>[1]): void {
    super._handleProxy(socket, (err, options) => {
      const peer = this.#peers.get(socket);
      if (peer !== undefined && options !== undefined) Object.assign(options, { remoteAddress: peer.address, remotePort: peer.port });
      callback(err, options);
    });
  }

  override connect(socket: Socket | TLSSocket, socketOptions?: ConstructorParameters<typeof SMTPConnection>[2]): void {
    // An implicit-TLS session arrives as the TLS socket over the one accepted.
    this.#arriving.delete((socket as TLSSocket & { _parent?: Socket })._parent ?? socket);
    this.#arriving.delete(socket);
    // Mirrors SMTPServer.connect with our connection class.
    const connection = new PosternConnection(this, socket, socketOptions);
    this.#open.add(connection);
    this.connections.add(connection);
    connection.on('error', (err: Error) => this._onError(err));
    connection.on('connect', (data) => this._onClientConnect(data));
    connection.init();
  }

  /**
   * Ends what is left after a drain: open sessions are told 421 and closed, sockets still in TLS or
   * PROXY cut. With `force`, sockets whose client never closed its side are destroyed too.
   */
  closeSessions(force = false): void {
    for (const socket of this._pendingSockets.values()) socket.destroy();
    for (const socket of this.#arriving) if (force) socket.destroy();
    for (const connection of this.#open) {
      if (force) {
        connection._socket.destroy();
        continue;
      }
      connection.send(421, 'Server shutting down');
      connection.close();
    }
  }

  #left(remove: () => void): void {
    remove();
    if (this.active > 0) return;
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  override onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback: DataCallback): void {
    const ctx = contexts.get(session);
    // A session gets past MAIL only with a context (PosternConnection refuses commands without one).
    if (ctx === undefined) return callback(replyError(Replies.serviceUnavailable));
    const transaction = { mailFrom: address(session.envelope.mailFrom), rcptTo: session.envelope.rcptTo.map(address) };
    void receiveMessage(stream as Readable, ctx, transaction, this.services).then((reply) =>
      reply.code < 400 ? callback(null, reply.text) : callback(replyError(reply)),
    );
  }
}

/** smtp-server's onData callback takes a refusal as an Error with a responseCode (it adds the enhanced code). */
function replyError(reply: Reply): Error {
  return Object.assign(new Error(reply.text), { responseCode: reply.code });
}

class PosternConnection extends SMTPConnection {
  declare _server: PosternSmtpServer;
  #ctx: SessionContext | undefined;

  get #services(): SessionServices {
    return this._server.services;
  }

  /** smtp-server's init() minus the 100 ms greeting delay (it caps throughput; see docs/testing.md). */
  override init(): void {
    this._setListeners(() => {
      const { maxClients } = this._server.options;
      if (maxClients && this._server.connections.size > maxClients) {
        return this.#reply(Replies.serviceUnavailable);
      }
      this.connectionReady();
    });
  }

  override connectionReady(next?: Callback): void {
    const listener = this._server.listener;
    const vars = { listener: listener.id, 'remote-ip': this.remoteAddress, 'local-ip': this.localAddress, 'helo-domain': '' };
    this.#services.events.emit({
      type: 'session.connect',
      sessionId: this.id,
      listener: listener.id,
      remoteIp: this.remoteAddress,
      secure: this.secure,
    });
    this.#services.settings.resolve(vars).then(
      (settings) => {
        const connection = this;
        this.#ctx = {
          id: this.id,
          listener,
          vars,
          settings,
          authErrors: 0,
          get secure() {
            return connection.secure;
          },
          get user() {
            return sessionUser(connection.session);
          },
        };
        contexts.set(this.session, this.#ctx);
        super.connectionReady(next);
      },
      // The pool is saturated or broken: refuse politely rather than run without rules.
      () => this.#refuse(),
    );
  }

  override _onClose(): void {
    super._onClose();
    this._server.ended(this);
  }

  override _sendGreeting(): void {
    this.send(220, `${this._server.listener.hostname} ${this._server.listener.greeting}`, false);
  }

  /** Our own EHLO: the capabilities depend on the session's rules, which may test helo-domain. */
  override handler_EHLO(command: Buffer, callback: Callback): void {
    const ctx = this.#context(callback);
    if (ctx === undefined) return;
    const parts = command.toString().trim().split(/\s+/);
    const hostname = parts[1];
    if (parts.length !== 2 || hostname === undefined || !HELO_NAME.test(hostname)) {
      this.#reply(Replies.ehloSyntax);
      return callback();
    }
    this.hostNameAppearsAs = ctx.vars['helo-domain'] = hostname.toLowerCase();
    this._resetSession(); // EHLO is an implicit RSET (RFC 5321 §4.1.4)
    const answer = (mechanisms: Mechanism[]): void => {
      const listener = this._server.listener;
      const lines = ehloLines({
        hostname: listener.hostname,
        clientName: hostname,
        mechanisms,
        authenticated: ctx.user !== null,
        starttls: !this.secure && listener.tls.enable,
        maxSize: this.#services.maxMessageSize,
      });
      this.send(250, lines, false);
      callback();
    };
    ruledMechanisms(ctx, this.#services).then(
      (ruled) => answer(usableMechanisms(ruled, ctx)),
      // The pool is saturated or broken: a 250 without AUTH would tell the client AUTH is not
      // offered at all, which mail clients report as a settings error; 421 says try again.
      () => {
        this.#reply(Replies.serviceUnavailable);
        callback();
      },
    );
  }

  override handler_HELO(command: Buffer, callback: Callback): void {
    const ctx = this.#context(callback);
    if (ctx === undefined) return;
    const hostname = command.toString().trim().split(/\s+/)[1];
    if (hostname !== undefined) ctx.vars['helo-domain'] = hostname.toLowerCase();
    super.handler_HELO(command, callback);
  }

  override handler_AUTH(command: Buffer, callback: Callback): void {
    const ctx = this.#context(callback);
    if (ctx === undefined) return;
    const args = command.toString().trim().split(/\s+/).slice(1);
    // The parser waits for `done` before reading the next line: hand it over at each challenge.
    let done = callback;
    const connection = this;
    const io: AuthIO = {
      login(name) {
        connection.session.user = { username: name };
      },
      get inTransaction() {
        return Boolean(connection.session.envelope.mailFrom);
      },
      reply: (r) => this.#reply(r),
      challenge: (base64) =>
        new Promise<string>((resolve) => {
          this._nextHandler = (line, next) => {
            done = next;
            resolve(line.toString());
          };
          this.#reply(Replies.challenge(base64));
          done();
        }),
      close: () => this.close(),
    };
    void runAuth(args, ctx, io, this.#services).finally(() => done());
  }

  override handler_MAIL(command: Buffer, callback: Callback): void {
    const ctx = this.#context(callback);
    if (ctx === undefined) return;
    const refusal = checkMailFrom(ctx);
    if (refusal === null) return super.handler_MAIL(command, callback);
    this.#reply(refusal);
    callback();
  }

  override _getEnhancedStatusCode(code: number, context?: string | false): string {
    if (context === false) return '';
    return enhancedOverrides[context ?? ''] ?? enhancedOverrides[code] ?? super._getEnhancedStatusCode(code, context);
  }

  /**
   * The session's context, or undefined after refusing the command. A connection whose rules could
   * not be resolved has already been told 421 and closed; a command that still reached us gets the same.
   */
  #context(callback: Callback): SessionContext | undefined {
    if (this.#ctx !== undefined) return this.#ctx;
    this.#refuse();
    callback();
    return undefined;
  }

  #refuse(): void {
    this.#reply(Replies.serviceUnavailable);
    this.close();
  }

  #reply(r: Reply): void {
    this.send(r.code, replyText(r), false);
  }
}
