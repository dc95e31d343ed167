// Strict decoding of SASL client lines. Lenient decoders (Buffer.from(x, 'base64') skips junk)
// would let two different lines mean the same credentials, so anything non-canonical is refused.

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The bytes of a canonical base64 line ('' is zero bytes), or null. */
export function decodeBase64(line: string): Uint8Array | null {
  if (!BASE64.test(line)) return null;
  const bytes = Buffer.from(line, 'base64');
  // Non-zero bits in the last character before the padding decode "fine" but aren't canonical.
  return bytes.toString('base64') === line ? bytes : null;
}

// ignoreBOM keeps a leading U+FEFF as part of the text instead of silently dropping it.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The text of valid UTF-8 bytes, or null. */
export function decodeUtf8(bytes: Uint8Array): string | null {
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}
