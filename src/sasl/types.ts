// What the SASL decoders (run in workers) return to the session. Plain data only.

export const MECHANISMS = ['PLAIN', 'LOGIN', 'OAUTHBEARER', 'XOAUTH2'] as const;
export type Mechanism = (typeof MECHANISMS)[number];

export type Credentials =
  | { kind: 'password'; mechanism: 'PLAIN' | 'LOGIN'; user: string; password: string }
  | { kind: 'token'; mechanism: 'OAUTHBEARER' | 'XOAUTH2'; user: string; token: string };

/**
 * One step of an exchange. The decoder is a pure function of every client line so far
 * (initial response first, '' when the client gave none), so workers keep no state.
 */
export type SaslStep =
  /** Send `334 <challenge>` (base64, may be empty) and pass the next client line. */
  | { kind: 'challenge'; challenge: string }
  | { kind: 'credentials'; credentials: Credentials }
  /** Bad base64, wrong field count, bad authzid, non-UTF-8… (`reason` is for logs, never payload). */
  | { kind: 'malformed'; reason: string }
  | { kind: 'cancelled' };
