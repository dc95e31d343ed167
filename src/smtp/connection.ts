// The one adapter over smtp-server's internals (version pinned in package.json: 3.21.6).
// smtp-server runs the command loop, STARTTLS, MAIL/RCPT/DATA parsing and the data stream. Postern
// takes over, per connection (no global patching):
//   init()                  — without the hard-coded 100 ms early-talker delay before the greeting;
//   connectionReady()       — resolves the session's auth rules in the worker pool first;
//   _sendGreeting()         — "220 <hostname> <greeting>";
//   handler_EHLO            — capabilities from the session's rules (mechanisms can test helo-domain);
//   handler_AUTH            — the AUTH stage (src/smtp/auth.ts), incl. OAUTHBEARER which smtp-server lacks;
//   handler_MAIL            — `require` (src/smtp/mail.ts);
//   _getEnhancedStatusCode  — the contract's enhanced codes where smtp-server's table differs.
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import type { ListenerConfig } from '../config/types.js';
import { runAuth, type AuthIO } from './auth.js';
import { ehloLines } from './ehlo.js';
import { checkMailFrom } from './mail.js';
import { enhancedOverrides, replyText, Replies, type Reply } from './replies.js';
import type { Mechanism } from '../sasl/types.js';
import { ruledMechanisms, usableMechanisms, type SessionContext, type SessionServices } from './session.js';

/** A domain or an address literal; anything with spaces or control characters is refused. */
const HELO_NAME = /^(?:\[[^\]\s]{1,253}\]|[\p{L}\p{N}_.-]{1,253})$/u;

type Callback = () => void;

export class PosternSmtpServer extends SMTPServer {
  constructor(
    options: SMTPServerOptions,
    readonly listener: ListenerConfig,
    readonly services: SessionServices,
  ) {
    super(options);
  }

  override connect(socket: Socket | TLSSocket, socketOptions?: ConstructorParameters<typeof SMTPConnection>[2]): void {
    // Mirrors SMTPServer.connect with our connection class.
    const connection = new PosternConnection(this, socket, socketOptions);
    this.connections.add(connection);
    connection.on('error', (err: Error) => this._onError(err));
    connection.on('connect', (data) => this._onClientConnect(data));
    connection.init();
  }
}

class PosternConnection extends SMTPConnection {
  declare _server: PosternSmtpServer;
  #ctx: SessionContext | undefined;

  get #services(): SessionServices {
    return this._server.services;
  }

  /** smtp-server's init() minus the 100 ms greeting delay (it caps throughput; see peers.md). */
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
        this.#ctx = { id: this.id, listener, vars, settings, authErrors: 0 };
        super.connectionReady(next);
      },
      // The pool is saturated or broken: refuse politely rather than run without rules.
      () => this.#reply(Replies.serviceUnavailable),
    );
  }

  override _sendGreeting(): void {
    this.send(220, `${this._server.listener.hostname} ${this._server.listener.greeting}`, false);
  }

  /** Our own EHLO: the capabilities depend on the session's rules, which may test helo-domain. */
  override handler_EHLO(command: Buffer, callback: Callback): void {
    const ctx = this.#ctx;
    const parts = command.toString().trim().split(/\s+/);
    const hostname = parts[1];
    if (ctx === undefined || parts.length !== 2 || hostname === undefined || !HELO_NAME.test(hostname)) {
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
        authenticated: Boolean(this.session.user),
        starttls: !this.secure && listener.tls.enable,
        maxSize: this.#services.maxMessageSize,
      });
      this.send(250, lines, false);
      callback();
    };
    ruledMechanisms(ctx, this.#services).then(
      (ruled) => answer(usableMechanisms(ruled, ctx, this.secure)),
      // The pool is saturated or broken: a 250 without AUTH would tell the client AUTH is not
      // offered at all, which mail clients report as a settings error; 421 says try again.
      () => {
        this.#reply(Replies.serviceUnavailable);
        callback();
      },
    );
  }

  override handler_HELO(command: Buffer, callback: Callback): void {
    const hostname = command.toString().trim().split(/\s+/)[1];
    if (this.#ctx !== undefined && hostname !== undefined) this.#ctx.vars['helo-domain'] = hostname.toLowerCase();
    super.handler_HELO(command, callback);
  }

  override handler_AUTH(command: Buffer, callback: Callback): void {
    const ctx = this.#ctx;
    if (ctx === undefined) return callback();
    const args = command.toString().trim().split(/\s+/).slice(1);
    // The parser waits for `done` before reading the next line: hand it over at each challenge.
    let done = callback;
    const connection = this;
    const io: AuthIO = {
      get secure() {
        return connection.secure;
      },
      get user() {
        const user = connection.session.user;
        return user ? String(user.username ?? user) : null;
      },
      set user(name) {
        connection.session.user = name === null ? undefined : { username: name };
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
    const refusal = this.#ctx === undefined ? null : checkMailFrom(this.#ctx, Boolean(this.session.user));
    if (refusal === null) return super.handler_MAIL(command, callback);
    this.#reply(refusal);
    callback();
  }

  override _getEnhancedStatusCode(code: number, context?: string | false): string {
    if (context === false) return '';
    return enhancedOverrides[context ?? ''] ?? enhancedOverrides[code] ?? super._getEnhancedStatusCode(code, context);
  }

  #reply(r: Reply): void {
    this.send(r.code, replyText(r), false);
  }
}
