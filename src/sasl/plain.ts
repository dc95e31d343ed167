// PLAIN (RFC 4616): one message, authzid NUL authcid NUL passwd.
import { challenge, malformed, type Decoder } from './steps.js';

export const decodePlain: Decoder = (messages) => {
  const [message, ...extra] = messages;
  if (message === undefined) return challenge('');
  if (extra.length > 0) return malformed('unexpected extra response');
  const fields = message.split('\0');
  if (fields.length !== 3) return malformed('expected authzid, authcid and password');
  const [authzid, user, password] = fields as [string, string, string];
  if (user === '') return malformed('empty authcid');
  if (password === '') return malformed('empty password');
  // We can't act for someone else: an authzid must name the authenticating user itself.
  if (authzid !== '' && authzid !== user) return malformed('authzid differs from authcid');
  return { kind: 'credentials', credentials: { kind: 'password', mechanism: 'PLAIN', user, password } };
};
