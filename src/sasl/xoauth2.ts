// XOAUTH2 (Google): user=<user>\x01auth=Bearer <token>\x01\x01.
import { bearerToken, parsePairs } from './bearer.js';
import { challenge, malformed, type Decoder } from './steps.js';

export const decodeXoauth2: Decoder = (messages) => {
  const [message, ...extra] = messages;
  if (message === undefined) return challenge('');
  if (extra.length > 0) return malformed('unexpected extra response');
  const pairs = parsePairs(message);
  if (pairs === null) return malformed('bad key-value pairs');
  const user = pairs.get('user');
  const auth = pairs.get('auth');
  if (user === undefined || user === '') return malformed('missing user');
  if (auth === undefined) return malformed('missing auth');
  const token = bearerToken(auth);
  if (token === null) return malformed('bad bearer token');
  return { kind: 'credentials', credentials: { kind: 'token', mechanism: 'XOAUTH2', user, token } };
};
