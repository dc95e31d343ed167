// MAIL FROM: the `require` policy. Address and parameter parsing stay with smtp-server.
import { Replies, type Reply } from './replies.js';
import type { SessionContext } from './session.js';

/** The refusal for MAIL FROM, or null to let it through. */
export function checkMailFrom(ctx: SessionContext): Reply | null {
  return ctx.settings.require && ctx.user === null ? Replies.authRequired : null;
}
