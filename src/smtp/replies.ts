// Every SMTP reply Postern writes itself, in one table (codes and texts from the AUTH-stage contract).
// No other module spells a reply code.

export interface Reply {
  readonly code: number;
  /** RFC 3463 enhanced status code; absent on 334 challenges. */
  readonly enhanced?: string;
  readonly text: string;
}

const reply = (code: number, enhanced: string | undefined, text: string): Reply =>
  enhanced === undefined ? { code, text } : { code, enhanced, text };

export const Replies = {
  authNotAllowed: reply(503, '5.5.1', 'AUTH not allowed.'),
  alreadyAuthenticated: reply(503, '5.5.1', 'Already authenticated.'),
  authInTransaction: reply(503, '5.5.1', 'AUTH not allowed during a mail transaction.'),
  encryptionRequired: reply(538, '5.7.11', 'Encryption required for requested authentication mechanism'),
  authSyntax: reply(501, '5.5.2', 'Syntax error, expected: AUTH mechanism [initial-response]'),
  mechanismNotSupported: reply(504, '5.5.4', 'Mechanism not supported'),
  authCancelled: reply(501, '5.7.0', 'Authentication cancelled'),
  saslMalformed: reply(501, '5.5.2', 'Invalid SASL message'),
  saslTooLong: reply(500, '5.5.6', 'Authentication Exchange line is too long.'),
  authSucceeded: reply(235, '2.7.0', 'Authentication succeeded.'),
  badCredentials: reply(535, '5.7.8', 'Authentication credentials invalid.'),
  tempFailure: reply(454, '4.7.0', 'Temporary authentication failure'),
  tooManyErrors: reply(421, '4.3.0', 'Too many authentication errors, disconnecting.'),
  authRequired: reply(530, '5.7.0', 'Authentication required'),
  ehloSyntax: reply(501, '5.5.2', 'Syntax error, expected: EHLO hostname'),
  serviceUnavailable: reply(421, '4.3.2', 'Service temporarily unavailable, try again later.'),
  messageTooBig: reply(552, '5.3.4', 'Message too big for system.'),
  spoolFailure: reply(451, '4.3.0', 'Temporary failure storing the message, try again later.'),
  challenge: (base64: string): Reply => reply(334, undefined, base64),
  messageQueued: (id: string): Reply => reply(250, '2.0.0', `${id} Message queued`),
} as const;

/**
 * Enhanced codes for replies smtp-server writes itself (by its context name, else by code), where its
 * table differs from ours: the queued-message 250 and our 552 come back through its onData callback.
 */
export const enhancedOverrides: Readonly<Record<string, string>> = {
  DATA_OK: '2.0.0',
  [Replies.messageTooBig.code]: Replies.messageTooBig.enhanced ?? '',
};

/** The text smtp-server's `send(code, text, false)` needs: enhanced code first, when there is one. */
export function replyText(r: Reply): string {
  return r.enhanced === undefined ? r.text : `${r.enhanced} ${r.text}`;
}
