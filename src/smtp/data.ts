// DATA: the accepted message goes to the spool; the reply says where it went, or why not.
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import type { ListenerConfig } from '../config/types.js';
import { Replies, type Reply } from './replies.js';
import type { SessionServices } from './session.js';

const address = (a: { address: string } | false): string => (a === false ? '' : a.address);

export async function receiveMessage(
  stream: SMTPServerDataStream,
  session: SMTPServerSession,
  listener: ListenerConfig,
  services: SessionServices,
): Promise<Reply> {
  const user = session.user ? String((session.user as { username?: string }).username ?? session.user) : null;
  try {
    const result = await services.spool.store(stream, {
      user,
      mailFrom: address(session.envelope.mailFrom),
      rcptTo: session.envelope.rcptTo.map(address),
      listener: listener.id,
      remoteIp: session.remoteAddress,
    });
    // Nobody is left to read a reply, and the message was not refused: no rejection to count.
    if (result.kind === 'aborted') return Replies.spoolFailure;
    if (result.kind === 'too_large') {
      services.events.emit({ type: 'message.rejected', sessionId: session.id, listener: listener.id, reason: 'too_large' });
      return Replies.messageTooBig;
    }
    services.events.emit({
      type: 'message.queued',
      sessionId: session.id,
      listener: listener.id,
      id: result.id,
      bytes: result.bytes,
      ...(user === null ? {} : { user }),
    });
    return Replies.messageQueued(result.id);
  } catch {
    services.events.emit({ type: 'message.rejected', sessionId: session.id, listener: listener.id, reason: 'spool_error' });
    return Replies.spoolFailure;
  }
}
