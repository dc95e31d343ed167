// The one place that decides whether a failed IMAP check means "wrong credentials" or "try again later".

export type Classification = { kind: 'bad' } | { kind: 'tempfail'; reason: string };

/**
 * RFC 5530 response codes that say the server, not the credentials, is at fault. A NO carrying one
 * of these is temporary even though imapflow marks it `authenticationFailed` like any other NO.
 */
const TEMPORARY_CODES = new Set(['UNAVAILABLE', 'SERVERBUG', 'CLIENTBUG', 'INUSE', 'LIMIT', 'CORRUPTION', 'PRIVACYREQUIRED']);

/** The fields imapflow puts on a command error (tools.ts, imap-flow.ts); all optional, all checked. */
interface ImapErrorFields {
  code?: unknown;
  authenticationFailed?: unknown;
  responseStatus?: unknown;
  serverResponseCode?: unknown;
  response?: unknown;
  responseText?: unknown;
  message?: unknown;
}

function fields(err: unknown): ImapErrorFields {
  return typeof err === 'object' && err !== null ? (err as ImapErrorFields) : {};
}

/** The bracketed response code: imapflow's parsed one, else the first `[CODE` in the status text. */
function responseCode(e: ImapErrorFields): string | null {
  if (typeof e.serverResponseCode === 'string' && e.serverResponseCode !== '') return e.serverResponseCode.toUpperCase();
  for (const text of [e.response, e.responseText]) {
    const match = typeof text === 'string' ? /\[([A-Za-z-]+)[\] ]/.exec(text) : null;
    if (match?.[1]) return match[1].toUpperCase();
  }
  return null;
}

/** A short, credential-free description for logs and the tempfail reason. */
function describe(e: ImapErrorFields): string {
  const parts: string[] = [];
  if (typeof e.code === 'string') parts.push(e.code);
  if (typeof e.message === 'string' && e.message !== '') parts.push(e.message);
  if (typeof e.response === 'string' && e.response !== '') parts.push(`server said: ${e.response}`);
  return (parts.join(': ') || 'unknown error').slice(0, 200);
}

/**
 * `bad` only for a tagged NO/BAD to LOGIN/AUTHENTICATE (imapflow sets `authenticationFailed` on
 * exactly those, and leaves `code` unset on them) whose response code is not a temporary one.
 * Everything else — refused, reset, timeout, TLS failure, throttling, an untagged or unparsable
 * answer, a missing mechanism — is a temporary failure: never cached, never retried.
 */
export function classify(err: unknown): Classification {
  const e = fields(err);
  const refused =
    e.authenticationFailed === true && (e.responseStatus === 'NO' || e.responseStatus === 'BAD') && e.code === undefined;
  if (refused) {
    const code = responseCode(e);
    if (code === null || !TEMPORARY_CODES.has(code)) return { kind: 'bad' };
  }
  return { kind: 'tempfail', reason: describe(e) };
}
