// The AUTH stage: mechanism checks, the SASL exchange (decoded in workers), verification, and the
// errors.total / errors.wait policy. Knows nothing of smtp-server; the adapter supplies an AuthIO.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Verdict } from '../directory/verdict.js';
import { describeError } from '../errors.js';
import type { AuthResult } from '../events.js';
import { oauthbearerErrorChallenge } from '../sasl/oauthbearer.js';
import { MECHANISMS, type Credentials, type Mechanism } from '../sasl/types.js';
import { Replies, type Reply } from './replies.js';
import { ruledMechanisms, usableMechanisms, type SessionContext, type SessionServices } from './session.js';

/** RFC 4954 leaves the limit to the server; Stalwart refuses SASL lines over 12 KiB. */
export const MAX_SASL_LINE = 12 * 1024;
/** No mechanism we speak needs more client lines than LOGIN's two (plus OAUTHBEARER's ^A). */
const MAX_SASL_LINES = 3;

export interface AuthIO {
  /** Records the authenticated login on the session (SessionContext.user reads it back). */
  login(user: string): void;
  /** MAIL FROM has been accepted and the transaction is not over. */
  readonly inTransaction: boolean;
  reply(reply: Reply): void;
  /** Sends `334 <base64>` and resolves with the client's next line. */
  challenge(base64: string): Promise<string>;
  /** Ends the connection once the replies written so far are out. */
  close(): void;
}

const isMechanism = (name: string): name is Mechanism => (MECHANISMS as readonly string[]).includes(name);

/** Runs one AUTH command to its final reply. Never throws: faults become 454. */
export async function runAuth(args: string[], ctx: SessionContext, io: AuthIO, services: SessionServices): Promise<void> {
  const started = performance.now();
  let mechanism: Mechanism | undefined;
  let user: string | undefined;

  const report = (result: AuthResult, reason?: string): void => {
    if (mechanism === undefined) return;
    services.events.emit({
      type: 'auth.result',
      sessionId: ctx.id,
      listener: ctx.listener.id,
      mechanism,
      result,
      ...(user === undefined ? {} : { user }),
      seconds: (performance.now() - started) / 1000,
      ...(reason === undefined ? {} : { reason }),
    });
  };

  // A counted failure: wait, answer, and hang up at the errors.total-th.
  const fail = async (reply: Reply, result: AuthResult, reason?: string): Promise<void> => {
    ctx.authErrors += 1;
    // Unref'd: the client's socket keeps the process alive; a wait must not outlive shutdown.
    await sleep(ctx.settings.errorsWait, undefined, { ref: false });
    io.reply(reply);
    report(result, reason);
    if (ctx.authErrors >= ctx.settings.errorsTotal) {
      services.events.emit({ type: 'auth.too_many_errors', sessionId: ctx.id, listener: ctx.listener.id });
      io.reply(Replies.tooManyErrors);
      io.close();
    }
  };

  const conclude = async (verdict: Verdict, credentials: Credentials): Promise<void> => {
    switch (verdict.kind) {
      case 'ok':
        io.login(verdict.user);
        user = verdict.user;
        io.reply(Replies.authSucceeded);
        report('success');
        return;
      case 'bad':
        // RFC 7628 §3.2.2: the failure is told in a 334 error challenge; the client answers ^A.
        if (credentials.mechanism === 'OAUTHBEARER') await io.challenge(oauthbearerErrorChallenge());
        return fail(Replies.badCredentials, 'bad_credentials');
      case 'tempfail':
        io.reply(Replies.tempFailure);
        report('temp_failure', verdict.reason);
        return;
    }
  };

  try {
    if (ctx.user !== null) return io.reply(Replies.alreadyAuthenticated);
    // RFC 4954 §4: AUTH during a mail transaction MUST be refused with 503.
    if (io.inTransaction) return io.reply(Replies.authInTransaction);
    const [name, initial, ...extra] = args;
    if (name === undefined) return io.reply(Replies.authSyntax);
    const lookup = ctx.settings.lookup;
    const verifier = lookup === null ? undefined : services.verifiers.get(lookup);
    const ruled = verifier === undefined ? [] : await ruledMechanisms(ctx, services);
    if (verifier === undefined || ruled.length === 0) return io.reply(Replies.authNotAllowed);

    const upper = name.toUpperCase();
    if (!isMechanism(upper) || !ruled.includes(upper)) return io.reply(Replies.mechanismNotSupported);
    mechanism = upper;
    if (!usableMechanisms(ruled, ctx).includes(mechanism)) {
      report('not_allowed');
      return io.reply(Replies.encryptionRequired);
    }
    if (extra.length > 0) return io.reply(Replies.authSyntax);

    const lines = [initial ?? ''];
    for (;;) {
      if (lines.some((line) => line.length > MAX_SASL_LINE)) return await fail(Replies.saslTooLong, 'too_long');
      const step = await services.pool.decodeSasl(mechanism, lines);
      switch (step.kind) {
        case 'challenge':
          if (lines.length >= MAX_SASL_LINES) return await fail(Replies.saslMalformed, 'malformed');
          lines.push(await io.challenge(step.challenge));
          continue;
        case 'cancelled':
          return await fail(Replies.authCancelled, 'cancelled');
        case 'malformed':
          return await fail(Replies.saslMalformed, 'malformed', step.reason);
        case 'credentials':
          user = step.credentials.user;
          return await conclude(await verifier.verify(step.credentials, { remoteIp: ctx.vars['remote-ip'] }), step.credentials);
      }
    }
  } catch (error) {
    // Pool overflow, a crashed worker, a verifier bug: the user's password may be fine, so 454. The
    // cause goes to the log with the result (error texts here never hold a secret).
    io.reply(Replies.tempFailure);
    report('temp_failure', describeError(error));
  }
}
