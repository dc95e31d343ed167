// The one entry point the workers call: line-level rules (cancel, "=", base64, UTF-8) live here,
// so each mechanism sees only decoded text.
import { decodeBase64, decodeUtf8 } from './encoding.js';
import { decodeLogin } from './login.js';
import { decodeOauthbearer } from './oauthbearer.js';
import { decodePlain } from './plain.js';
import { malformed, type Decoder } from './steps.js';
import { decodeXoauth2 } from './xoauth2.js';
import type { Mechanism, SaslStep } from './types.js';

const DECODERS: Record<Mechanism, Decoder> = {
  PLAIN: decodePlain,
  LOGIN: decodeLogin,
  OAUTHBEARER: decodeOauthbearer,
  XOAUTH2: decodeXoauth2,
};

/**
 * One step of `mechanism` given every client line so far: `lines[0]` is the initial response
 * ('' when the client sent none, "=" for an explicitly empty one, RFC 4954 §4), then one line
 * per challenge answered.
 */
export function decodeSasl(mechanism: Mechanism, lines: readonly string[]): SaslStep {
  if (lines.includes('*')) return { kind: 'cancelled' };
  const [initial = '', ...responses] = lines;
  const encoded = initial === '' ? responses : [initial === '=' ? '' : initial, ...responses];
  const messages: string[] = [];
  for (const line of encoded) {
    const bytes = decodeBase64(line);
    if (bytes === null) return malformed('invalid base64');
    const text = decodeUtf8(bytes);
    if (text === null) return malformed('invalid utf-8');
    messages.push(text);
  }
  return DECODERS[mechanism](messages);
}
