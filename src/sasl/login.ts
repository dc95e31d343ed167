// LOGIN (draft-murchison-sasl-login): the server asks "Username:" then "Password:"; an initial
// response stands for the username.
import { challenge, malformed, type Decoder } from './steps.js';

export const decodeLogin: Decoder = (messages) => {
  const [user, password, ...extra] = messages;
  if (user === undefined) return challenge('Username:');
  if (user === '') return malformed('empty username');
  if (password === undefined) return challenge('Password:');
  if (password === '') return malformed('empty password');
  if (extra.length > 0) return malformed('unexpected extra response');
  return { kind: 'credentials', credentials: { kind: 'password', mechanism: 'LOGIN', user, password } };
};
