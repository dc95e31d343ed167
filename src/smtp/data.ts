// DATA: the accepted message goes to the spool; the reply says where it went, or why not.
import type { Readable } from 'node:stream';
import { describeError } from '../errors.js';
import { Replies, type Reply } from './replies.js';
import type { SessionContext, SessionServices } from './session.js';

/** The transaction as smtp-server parsed it. */
export interface Transaction {
  mailFrom: string;
  rcptTo: string[];
}

export async function receiveMessage(
  stream: Readable,
  ctx: SessionContext,
  transaction: Transaction,
  services: SessionServices,
): Promise<Reply> {
  const rejected = (reason: 'too_large' | 'spool_error', cause?: string): void =>
    services.events.emit({
      type: 'message.rejected',
      sessionId: ctx.id,
      listener: ctx.listener.id,
      reason,
      ...(cause === undefined ? {} : { cause }),
    });
  try {
    const result = await services.spool.store(
      stream,
      {
        user: ctx.user,
        mailFrom: transaction.mailFrom,
        rcptTo: transaction.rcptTo,
        listener: ctx.listener.id,
        remoteIp: ctx.vars['remote-ip'],
      },
      services.maxMessageSize,
    );
    // Nobody is left to read a reply, and the message was not refused: no rejection to count.
    if (result.kind === 'aborted') return Replies.spoolFailure;
    if (result.kind === 'too_large') {
      rejected('too_large');
      return Replies.messageTooBig;
    }
    services.events.emit({
      type: 'message.queued',
      sessionId: ctx.id,
      listener: ctx.listener.id,
      id: result.id,
      bytes: result.bytes,
      ...(ctx.user === null ? {} : { user: ctx.user }),
    });
    return Replies.messageQueued(result.id);
  } catch (error) {
    // A full disk, a permission gone wrong: the client may retry; the admin needs the cause.
    rejected('spool_error', describeError(error));
    return Replies.spoolFailure;
  }
}
