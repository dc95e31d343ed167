// The parts OAUTHBEARER and XOAUTH2 share: \x01-separated key=value pairs and `auth=Bearer <token>`.

const KEY = /^[A-Za-z]+$/;
// RFC 7628 §3.1: value = *(VCHAR / SP / HTAB / CR / LF)
const VALUE = /^[\x21-\x7e \t\r\n]*$/;
// RFC 6750 §2.1: the scheme is case-insensitive; b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

/** `k=v\x01k=v\x01…\x01\x01` (the trailing \x01\x01 included) → pairs, or null if malformed or a key repeats. */
export function parsePairs(text: string): Map<string, string> | null {
  if (!text.endsWith('\x01\x01')) return null;
  const body = text.slice(0, -2);
  const pairs = new Map<string, string>();
  if (body === '') return pairs;
  for (const pair of body.split('\x01')) {
    const eq = pair.indexOf('=');
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (eq < 0 || !KEY.test(key) || !VALUE.test(value) || pairs.has(key)) return null;
    pairs.set(key, value);
  }
  return pairs;
}

/** The bare token of an `auth` value (never "Bearer <token>": Stalwart's double-"Bearer" bug), or null. */
export function bearerToken(auth: string): string | null {
  return BEARER.exec(auth)?.[1] ?? null;
}
