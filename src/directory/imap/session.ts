// What one credential check says to the IMAP server, and when: imapflow's session, cut down to the
// fewest round trips. The one place that drives imapflow's internals; see CheckSession.
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import { compiler } from 'imapflow/lib/handler/imap-handler.js';
import { getErrorText, getStatusCode, isServerRefusal } from 'imapflow/lib/tools.js';
import type { Socket } from 'node:net';
import { TempFailure } from '../../errors.js';

type TokenMechanism = 'OAUTHBEARER' | 'XOAUTH2';

/** imapflow's options, with the credentials a check always has. */
export type CheckSessionOptions = ImapFlowOptions & { auth: { user: string; pass?: string; accessToken?: string } };

/**
 * The imapflow 2.10.2 internals a check drives. None is in imapflow's typings, so each is checked
 * at load: an upgrade that renames one fails loudly here instead of silently changing what is sent.
 */
interface Internals {
  /** Runs one of imapflow's commands (here only CAPABILITY, which is a no-op when the list is known). */
  run(command: 'CAPABILITY'): Promise<unknown>;
  /** Queues a raw command; resolves with its tagged OK, rejects with imapflow's error on NO/BAD. */
  exec(command: string, attributes: unknown[], options?: { onPlusTag?: () => Promise<void> }): Promise<{ next(): void }>;
  /** Writes one line to the (possibly upgraded) socket, CRLF appended. */
  write(chunk: Buffer): void;
  /** The socket commands are written to (the TLS one after STARTTLS). */
  writeSocket: Socket;
  /** imapflow's own authentication: mechanism choice, PLAIN/LOGIN without SASL-IR, the tokens, LOGIN. */
  authenticate(): Promise<boolean>;
}

const inherited = ImapFlow.prototype as unknown as Internals & Record<string, unknown>;
for (const name of ['startSession', 'setAuthenticationState', 'configureSocket', 'run', 'exec', 'write', 'authenticate']) {
  if (typeof inherited[name] !== 'function') throw new Error(`imapflow has no ${name}(); src/directory/imap/session.ts needs updating`);
}
const inheritedAuthenticate = inherited.authenticate;

/**
 * The tag of the pipelined ID. imapflow's own tags are its counter in hex, so this one can never be
 * mistaken for an answer to one of its commands; imapflow ignores the tagged answer to a tag it did
 * not send (its OK, or a BAD from a server that dislikes ID), and the untagged `* ID` line too.
 */
const ID_TAG = 'ID';

/**
 * One check's IMAP session. imapflow's own session (its startSession) costs 9 client round trips
 * over STARTTLS: CAPABILITY when the greeting has none, STARTTLS, the TLS handshake, CAPABILITY, ID
 * and AUTHENTICATE each waited for, PLAIN without SASL-IR (a `+` to wait for), a second ID and
 * NAMESPACE after login, LOGOUT. This one sends, and waits for, only what a verdict needs:
 *
 * - capabilities from the greeting when it has them (imapflow already keeps those);
 * - STARTTLS, then CAPABILITY again over TLS (the list before it could have been forged; over
 *   TLS 1.3 it rides with the client's Finished, so it costs no round trip of its own);
 * - ID written straight to the socket in front of the authentication, not waited for (the server
 *   answers commands in order, so it has the client's address before it checks the credentials);
 * - AUTHENTICATE PLAIN with the initial response when the server offers SASL-IR (RFC 4959);
 * - nothing after the tagged answer: no second ID, no NAMESPACE, no LOGOUT — the caller closes.
 *
 * Over STARTTLS that is 4 round trips after the greeting, over implicit TLS 3.
 *
 * Bearer tokens are pinned to the client's mechanism: imapflow picks OAUTHBEARER whenever the
 * server offers it, even for an XOAUTH2 token; the server must offer the client's mechanism (else
 * temporary failure), and for XOAUTH2 OAUTHBEARER is hidden from this connection's list.
 */
export class CheckSession extends ImapFlow {
  readonly #user: string;
  readonly #password: string | null;
  readonly #mechanism: TokenMechanism | null;

  constructor(options: CheckSessionOptions, mechanism: TokenMechanism | null) {
    super(options);
    this.#user = options.auth.user;
    this.#password = options.auth.pass ?? null;
    this.#mechanism = mechanism;
  }

  get #internals(): Internals {
    return this as unknown as Internals;
  }

  /** Replaces imapflow's startSession(), which runs after the greeting; connect() settles with it. */
  async startSession(): Promise<void> {
    // A PREAUTH greeting logs the session in before any credentials are sent: the server checked
    // nothing, so this must not become a 235 and a cached positive.
    if (this.authenticated !== false) throw new TempFailure('IMAP server pre-authenticated the session (PREAUTH); credentials not checked');
    await this.#internals.run('CAPABILITY');
    // Never credentials in clear: with doSTARTTLS this throws unless the upgrade happened.
    await this.upgradeToSTARTTLS();
    this.#pinMechanism();
    // ID and AUTHENTICATE in one TLS record and one segment: two writes would be two segments, and
    // Nagle holds the second until the first is acknowledged, a round trip on a real network.
    const socket = this.#internals.writeSocket;
    socket.cork();
    let authenticated: Promise<unknown>;
    try {
      this.#sendId();
      authenticated = this.#plainWithInitialResponse() ? this.#authenticatePlain(this.#password ?? '') : inheritedAuthenticate.call(this);
    } finally {
      socket.uncork();
    }
    await authenticated;
  }

  /**
   * Replaces imapflow's per-socket set-up (TCP keepalive, an inactivity timer), called for the TCP
   * socket and again for the TLS one: a check lives for a few round trips and the caller's timer
   * bounds all of it, so both were syscalls and timers spent on nothing.
   */
  configureSocket(): void {}

  /**
   * Called by imapflow's authenticate() after a success: the same, without the CAPABILITY it would
   * send when the server's OK had none. Nothing follows authentication here, so nothing needs them.
   */
  async setAuthenticationState(): Promise<void> {
    this.state = this.states.AUTHENTICATED;
    this.authenticated = true;
  }

  #pinMechanism(): void {
    if (this.#mechanism === null) return;
    if (!this.capabilities.has(`AUTH=${this.#mechanism}`)) throw new TempFailure(`IMAP server does not offer AUTH=${this.#mechanism}`);
    if (this.#mechanism === 'XOAUTH2') {
      const capabilities = new Map(this.capabilities);
      capabilities.delete('AUTH=OAUTHBEARER');
      this.capabilities = capabilities;
    }
  }

  /** ID with imapflow's client info (x-originating-ip among it), pipelined: its answer is not awaited. */
  #sendId(): void {
    if (!this.capabilities.has('ID')) return;
    // As imapflow's ID command formats it: key, value pairs; whitespace folded, empty values left out.
    const fields = Object.entries(this.clientInfo).flatMap(([key, value]) => {
      const text = String(value ?? '').replace(/\s+/g, ' ');
      return text === '' ? [] : [key, text];
    });
    this.#internals.write(compiler({ tag: ID_TAG, command: 'ID', attributes: [fields] }));
  }

  /**
   * Where imapflow would send AUTHENTICATE PLAIN (a password, AUTH=PLAIN offered, and not a
   * `domain\user` or `a/b` login, for which it uses LOGIN: an Exchange convention kept as it was),
   * and the server takes an initial response.
   */
  #plainWithInitialResponse(): boolean {
    return (
      this.#password !== null &&
      this.capabilities.has('AUTH=PLAIN') &&
      this.capabilities.has('SASL-IR') &&
      !/[\\/]/.test(this.#user)
    );
  }

  /**
   * AUTHENTICATE PLAIN <initial response>: one round trip instead of imapflow's two (it always waits
   * for the server's `+`). A failure leaves the error as imapflow's own PLAIN leaves it
   * (authenticationFailed on a tagged NO/BAD, the response code, the response text), so it
   * classifies the same.
   */
  async #authenticatePlain(password: string): Promise<void> {
    const response = Buffer.from(`\0${this.#user}\0${password}`).toString('base64');
    // A server that offered SASL-IR and still asks with `+` has not taken the response: cancel
    // (RFC 4959 leaves nothing else), and the BAD that follows is the server's oddity, not a verdict.
    let asked = false;
    try {
      const answer = await this.#internals.exec(
        'AUTHENTICATE',
        [
          { type: 'ATOM', value: 'PLAIN' },
          { type: 'ATOM', value: response, sensitive: true },
        ],
        {
          onPlusTag: async () => {
            asked = true;
            this.#internals.write(Buffer.from('*'));
          },
        },
      );
      answer.next();
    } catch (err) {
      throw await asImapflowAuthError(err, asked);
    }
    await this.setAuthenticationState();
  }
}

/** The fields imapflow's authenticate command adds to a failed AUTHENTICATE's error. */
async function asImapflowAuthError(err: unknown, cancelled: boolean): Promise<unknown> {
  if (typeof err !== 'object' || err === null) return err;
  const e = err as { response?: unknown; serverResponseCode?: string; authenticationFailed?: boolean };
  const code = getStatusCode(e.response as Parameters<typeof getStatusCode>[0]);
  if (code) e.serverResponseCode = code;
  if (!cancelled && isServerRefusal(e as Parameters<typeof isServerRefusal>[0])) e.authenticationFailed = true;
  e.response = await getErrorText(e.response as Parameters<typeof getErrorText>[0]);
  return err;
}
