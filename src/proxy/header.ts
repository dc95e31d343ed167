// The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2), parsed from the first
// bytes of a connection. Pure and total: any byte string gives one of the results below, never a throw.
// A verdict depends only on the bytes it has seen: `malformed` is given as soon as a byte rules a header
// out (a trusted peer speaking SMTP at once is cut without waiting), `incomplete` while the bytes so far
// could still begin one, and a complete header says how many bytes it took (the rest is the session's).
import { formatIp, parseIp } from '../config/ip.js';

export interface Endpoint {
  address: string;
  port: number;
}

export type ProxyHeader =
  /** The connection was relayed for `source`: the client. */
  | { kind: 'proxied'; version: 1 | 2; length: number; source: Endpoint; destination: Endpoint }
  /**
   * Keep the socket's own addresses: a v2 LOCAL (the proxy's health check), v1 UNKNOWN or a v2 family
   * without an IP client (unspecified or UDP, which the spec says to treat as unspecified; a Unix socket).
   */
  | { kind: 'local'; version: 1 | 2; length: number; why: 'local' | 'unknown' | 'unix' }
  | { kind: 'incomplete' }
  | { kind: 'malformed'; reason: string };

/** The longest v1 line, CRLF included ("PROXY UNKNOWN" with two full IPv6 addresses and ports). */
export const MAX_V1_LENGTH = 107;
/**
 * The longest v2 header accepted, TLVs included. The address block is at most 216 bytes (AF_UNIX); the
 * TLVs HAProxy can add (ALPN, authority, unique id ≤ 128, SSL details, CRC) stay well within this.
 */
export const MAX_V2_LENGTH = 4096;

const V1_SIGNATURE = Buffer.from('PROXY ', 'ascii');
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_FIXED = 16;
const CR = 0x0d;
const LF = 0x0a;

const malformed = (reason: string): ProxyHeader => ({ kind: 'malformed', reason });
const incomplete: ProxyHeader = { kind: 'incomplete' };

export function parseProxyHeader(bytes: Uint8Array): ProxyHeader {
  if (bytes.length === 0) return incomplete;
  if (bytes[0] === V1_SIGNATURE[0]) return parseV1(bytes);
  if (bytes[0] === V2_SIGNATURE[0]) return parseV2(bytes);
  return malformed('not a PROXY protocol header');
}

/** True while `bytes` agrees with `signature` as far as both go. */
function startsLike(bytes: Uint8Array, signature: Buffer): boolean {
  const n = Math.min(bytes.length, signature.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== signature[i]) return false;
  return true;
}

function parseV1(bytes: Uint8Array): ProxyHeader {
  if (!startsLike(bytes, V1_SIGNATURE)) return malformed('not a PROXY protocol header');
  // The line ends at the first CR, which must be followed by LF, within MAX_V1_LENGTH bytes.
  const seen = Math.min(bytes.length, MAX_V1_LENGTH);
  for (let i = V1_SIGNATURE.length; i < seen; i++) {
    const byte = bytes[i] ?? 0;
    if (byte === CR) {
      if (i + 2 > MAX_V1_LENGTH) break;
      if (i + 1 === bytes.length) return incomplete;
      if (bytes[i + 1] !== LF) return malformed('v1: CR without LF');
      return parseV1Line(Buffer.from(bytes.buffer, bytes.byteOffset, i).toString('latin1'), i + 2);
    }
    if (byte < 0x20 || byte > 0x7e) return malformed(byte === LF ? 'v1: LF without CR' : 'v1: a byte that is not printable ASCII');
  }
  return bytes.length < MAX_V1_LENGTH ? incomplete : malformed(`v1: no CRLF within ${MAX_V1_LENGTH} bytes`);
}

function parseV1Line(line: string, length: number): ProxyHeader {
  const fields = line.split(' ');
  const protocol = fields[1];
  // "The receiver must ignore anything presented before the CRLF."
  if (protocol === 'UNKNOWN') return { kind: 'local', version: 1, length, why: 'unknown' };
  if (protocol !== 'TCP4' && protocol !== 'TCP6') return malformed(`v1: unknown protocol ${JSON.stringify(protocol ?? '')}`);
  if (fields.length !== 6) return malformed('v1: expected "PROXY TCP4|TCP6 source destination source-port destination-port"');
  const [, , sourceText = '', destinationText = '', sourcePort = '', destinationPort = ''] = fields;
  const source = v1Address(sourceText, protocol);
  const destination = v1Address(destinationText, protocol);
  if (source === null || destination === null) return malformed(`v1: an address that is not ${protocol === 'TCP4' ? 'IPv4' : 'IPv6'}`);
  const [from, to] = [v1Port(sourcePort), v1Port(destinationPort)];
  if (from === null || to === null) return malformed('v1: a port that is not 0 to 65535 without leading zeros');
  return { kind: 'proxied', version: 1, length, source: { address: source, port: from }, destination: { address: destination, port: to } };
}

/** An address of the line's family, in canonical form; null otherwise. */
function v1Address(text: string, protocol: 'TCP4' | 'TCP6'): string | null {
  // parseIp alone would take a %zone and fold "::ffff:a.b.c.d" (which inet_ntop writes) into TCP4.
  const v6 = text.includes(':');
  if (v6 !== (protocol === 'TCP6') || text.includes('%')) return null;
  const bytes = parseIp(text);
  return bytes === null ? null : formatIp(bytes);
}

function v1Port(text: string): number | null {
  return /^(?:0|[1-9]\d{0,4})$/.test(text) && Number(text) <= 65535 ? Number(text) : null;
}

/** Address block length by the family-and-protocol byte; a byte not listed is invalid. */
const V2_ADDRESS_LENGTH: ReadonlyMap<number, number> = new Map([
  [0x00, 0], // UNSPEC
  [0x11, 12], // TCP over IPv4
  [0x12, 12], // UDP over IPv4
  [0x21, 36], // TCP over IPv6
  [0x22, 36], // UDP over IPv6
  [0x31, 216], // Unix stream
  [0x32, 216], // Unix datagram
]);

function parseV2(bytes: Uint8Array): ProxyHeader {
  if (!startsLike(bytes, V2_SIGNATURE)) return malformed('not a PROXY protocol header');
  const versionCommand = bytes[12];
  const family = bytes[13];
  if (versionCommand !== undefined && versionCommand >> 4 !== 2) return malformed(`v2: version ${versionCommand >> 4}`);
  const command = versionCommand === undefined ? undefined : versionCommand & 0x0f;
  if (command !== undefined && command > 1) return malformed(`v2: unknown command ${command}`);
  const needed = family === undefined ? undefined : V2_ADDRESS_LENGTH.get(family);
  if (family !== undefined && needed === undefined) return malformed(`v2: unknown address family and protocol 0x${family.toString(16).padStart(2, '0')}`);
  if (bytes.length < V2_FIXED || needed === undefined) return incomplete;
  const length = V2_FIXED + (((bytes[14] ?? 0) << 8) | (bytes[15] ?? 0));
  if (length > MAX_V2_LENGTH) return malformed(`v2: a ${length}-byte header (at most ${MAX_V2_LENGTH})`);
  // LOCAL ignores the address block whatever its family says, but its length still counts.
  if (command === 1 && length - V2_FIXED < needed) return malformed(`v2: an address block of ${length - V2_FIXED} bytes (family needs ${needed})`);
  if (bytes.length < length) return incomplete;
  if (command === 0) return { kind: 'local', version: 2, length, why: 'local' };
  switch (family) {
    case 0x11:
      return v2Proxied(bytes, length, 4);
    case 0x21:
      return v2Proxied(bytes, length, 16);
    case 0x31:
    case 0x32:
      return { kind: 'local', version: 2, length, why: 'unix' };
    default:
      return { kind: 'local', version: 2, length, why: 'unknown' };
  }
}

function v2Proxied(bytes: Uint8Array, length: number, size: 4 | 16): ProxyHeader {
  const address = (at: number): string => formatIp([...bytes.subarray(at, at + size)]);
  const port = (at: number): number => ((bytes[at] ?? 0) << 8) | (bytes[at + 1] ?? 0);
  const ports = V2_FIXED + 2 * size;
  return {
    kind: 'proxied',
    version: 2,
    length,
    source: { address: address(V2_FIXED), port: port(ports) },
    destination: { address: address(V2_FIXED + size), port: port(ports + 2) },
  };
}
