// IP addresses and CIDR networks as plain byte arrays, so compiled rules survive structured clone.
// v4-mapped IPv6 (::ffff:a.b.c.d) is folded to IPv4 on both sides, so either spelling matches the other.
import type { Network } from './types.js';

/** Stalwart accepts prefixes from /8 up; /0 (or /4) is almost certainly a typo for "everyone". */
const MIN_PREFIX = 8;

function parseV4(text: string): number[] | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const bytes = parts.map((p) => (/^(0|[1-9]\d{0,2})$/.test(p) ? Number(p) : 256));
  return bytes.every((b) => b <= 255) ? bytes : null;
}

function parseGroups(text: string): number[] | null {
  if (text === '') return [];
  const groups = text.split(':');
  return groups.every((g) => /^[0-9a-f]{1,4}$/i.test(g)) ? groups.map((g) => parseInt(g, 16)) : null;
}

function parseV6(text: string): number[] | null {
  let rest = text;
  let v4Tail: number[] = [];
  const lastColon = rest.lastIndexOf(':');
  if (rest.includes('.', lastColon)) {
    const v4 = parseV4(rest.slice(lastColon + 1));
    if (v4 === null) return null;
    v4Tail = v4;
    // Keep the colon so "::1.2.3.4" still splits around "::".
    rest = rest.slice(0, lastColon + 1);
    rest = rest.endsWith('::') ? rest : rest.slice(0, -1);
  }
  const tailGroups = v4Tail.length / 2;
  const halves = rest.split('::');
  if (halves.length > 2) return null;
  const head = parseGroups(halves[0] ?? '');
  const tail = halves.length === 2 ? parseGroups(halves[1] ?? '') : [];
  if (head === null || tail === null) return null;
  const present = head.length + tail.length + tailGroups;
  if (halves.length === 2 ? present > 7 : present !== 8) return null;
  const groups = [...head, ...new Array<number>(8 - present).fill(0), ...tail];
  return [...groups.flatMap((g) => [g >> 8, g & 0xff]), ...v4Tail];
}

function isV4Mapped(bytes: number[]): boolean {
  return bytes.length === 16 && bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
}

/** 4 or 16 bytes (v4-mapped IPv6 returned as its 4 IPv4 bytes; a `%zone` suffix ignored), or null. */
export function parseIp(text: string): number[] | null {
  const address = text.trim().replace(/%[^%]*$/, '');
  const bytes = address.includes(':') ? parseV6(address) : parseV4(address);
  if (bytes === null) return null;
  return isV4Mapped(bytes) ? bytes.slice(12) : bytes;
}

/** "192.0.2.1", "192.0.2.0/24", "2001:db8::/32", "::ffff:10.0.0.0/104". Throws a plain Error. */
export function parseNetwork(text: string): Network {
  const slash = text.lastIndexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const raw = addressText.includes(':') ? parseV6(addressText.trim()) : parseV4(addressText.trim());
  if (raw === null) throw new Error(`invalid IP address or network ${JSON.stringify(text)}`);
  const bits = raw.length * 8;
  const prefixText = slash < 0 ? String(bits) : text.slice(slash + 1).trim();
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
  if (!(prefix >= MIN_PREFIX && prefix <= bits)) {
    throw new Error(`invalid prefix length in ${JSON.stringify(text)}: IPv${bits === 32 ? 4 : 6} takes /${MIN_PREFIX} to /${bits}`);
  }
  if (isV4Mapped(raw) && prefix >= 96) return { family: 4, bytes: raw.slice(12), prefix: prefix - 96 };
  return { family: bits === 32 ? 4 : 6, bytes: raw, prefix };
}

/** `address` as returned by parseIp. */
export function inNetwork(network: Network, address: number[]): boolean {
  let bytes = address;
  if (network.family === 6 && bytes.length === 4) bytes = [...new Array<number>(10).fill(0), 0xff, 0xff, ...bytes];
  if (bytes.length !== network.bytes.length) return false;
  for (let bit = 0; bit < network.prefix; bit += 8) {
    const take = Math.min(8, network.prefix - bit);
    const mask = (0xff << (8 - take)) & 0xff;
    if (((bytes[bit / 8] ?? 0) & mask) !== ((network.bytes[bit / 8] ?? 0) & mask)) return false;
  }
  return true;
}

/**
 * The text form of 4 or 16 address bytes: dotted IPv4 (v4-mapped IPv6 too, as parseIp folds it), or
 * IPv6 in RFC 5952's canonical form (lowercase, no leading zeros, the longest run of two or more zero
 * groups — the first on a tie — as "::"), the form smtp-server gives a session's address.
 */
export function formatIp(bytes: number[]): string {
  if (bytes.length === 4) return bytes.join('.');
  if (isV4Mapped(bytes)) return bytes.slice(12).join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  let [start, length] = [-1, 1];
  for (let i = 0; i < 8; ) {
    let end = i;
    while (end < 8 && groups[end] === 0) end++;
    if (end - i > length) [start, length] = [i, end - i];
    i = end === i ? i + 1 : end;
  }
  const hex = (from: number, to: number): string => groups.slice(from, to).map((g) => g.toString(16)).join(':');
  return start < 0 ? hex(0, 8) : `${hex(0, start)}::${hex(start + length, 8)}`;
}
