// OAUTHBEARER (RFC 7628): gs2-header \x01 *(key=value \x01) \x01, the user in the gs2 authzid.
import { bearerToken, parsePairs } from './bearer.js';
import { challenge, malformed, type Decoder } from './steps.js';

// RFC 5801 gs2-header: cb-flag "," [ "a=" saslname ] ","
const GS2_HEADER = /^(n|y|p=[^,]*),(?:a=([^,]*))?,/;

/** RFC 5801 saslname: "," and "=" travel as "=2C" and "=3D"; any other "=" is malformed. */
function decodeSaslname(name: string): string | null {
  if (/=(?!2C|3D)/.test(name) || name.includes('\0')) return null;
  return name.replace(/=2C|=3D/g, (escape) => (escape === '=2C' ? ',' : '='));
}

export const decodeOauthbearer: Decoder = (messages) => {
  const [message, ...extra] = messages;
  if (message === undefined) return challenge('');
  if (extra.length > 0) return malformed('unexpected extra response');
  const gs2 = GS2_HEADER.exec(message);
  if (gs2 === null) return malformed('bad gs2 header');
  if (gs2[1]?.startsWith('p=')) return malformed('channel binding not supported');
  // The gs2 authzid is optional in the RFC, but it is the only place the user is named.
  if (gs2[2] === undefined) return malformed('missing authzid');
  const user = decodeSaslname(gs2[2]);
  if (user === null || user === '') return malformed('bad authzid');
  const rest = message.slice(gs2[0].length);
  const pairs = rest.startsWith('\x01') ? parsePairs(rest.slice(1)) : null;
  if (pairs === null) return malformed('bad key-value pairs');
  const auth = pairs.get('auth');
  if (auth === undefined) return malformed('missing auth');
  const token = bearerToken(auth);
  if (token === null) return malformed('bad bearer token');
  return { kind: 'credentials', credentials: { kind: 'token', mechanism: 'OAUTHBEARER', user, token } };
};

// RFC 7628 §3.2.2: the server sends this as a 334 challenge after a failed token check; only
// `status` is required, and we can't know which scope the IMAP server would have wanted.
const ERROR_CHALLENGE = Buffer.from(JSON.stringify({ status: 'invalid_token' }), 'utf8').toString('base64');

/** The base64 RFC 7628 error JSON for `334 <this>` after a rejected token. */
export function oauthbearerErrorChallenge(): string {
  return ERROR_CHALLENGE;
}
