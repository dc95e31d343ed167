// What every mechanism decoder shares: its input shape and the steps it answers with.
import type { SaslStep } from './types.js';

/**
 * A mechanism decoder: a pure function of the client's messages so far, base64- and UTF-8-decoded,
 * the initial response first when the client sent one (the "no initial response" marker removed).
 */
export type Decoder = (messages: readonly string[]) => SaslStep;

export const challenge = (text: string): SaslStep => ({ kind: 'challenge', challenge: Buffer.from(text, 'utf8').toString('base64') });

/** `reason` is a fixed phrase for logs; never put client data in it. */
export const malformed = (reason: string): SaslStep => ({ kind: 'malformed', reason });
