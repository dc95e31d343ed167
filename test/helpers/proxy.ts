// PROXY protocol v2 headers built by hand, for the tests that play a balancer sending a bad or cut-off
// header (a fault HAProxy does not produce on demand) and for the parser's tests.
import { isIPv6 } from 'node:net';
import { parseIp } from '../../src/config/ip.js';

export interface V2Options {
  command?: 'PROXY' | 'LOCAL';
  /** "192.0.2.1:25" or "[2001:db8::1]:25"; sets the family (TCP over IPv4 or IPv6) and the address block. */
  source?: string;
  destination?: string;
  /** The family-and-protocol byte and a raw address block, instead of source/destination. */
  family?: number;
  block?: Buffer;
  /** Type-length-value entries after the addresses. */
  tlvs?: [type: number, value: Buffer][];
}

const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

function endpoint(text: string): { bytes: number[]; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(text);
  if (m === null) throw new Error(`bad endpoint ${text}`);
  const host = m[1] ?? '';
  // parseIp folds v4-mapped addresses to IPv4: the test means the 16 bytes it wrote.
  const bytes = isIPv6(host) && host.toLowerCase().startsWith('::ffff:') ? [...new Array<number>(10).fill(0), 0xff, 0xff, ...(parseIp(host) ?? [])] : parseIp(host);
  if (bytes === null) throw new Error(`bad address ${host}`);
  return { bytes, port: Number(m[2]) };
}

export function v2Header(options: V2Options = {}): Buffer {
  const { command = 'PROXY', tlvs = [] } = options;
  let family = options.family ?? 0x00;
  let block = options.block ?? Buffer.alloc(0);
  if (options.source !== undefined && options.destination !== undefined) {
    const [from, to] = [endpoint(options.source), endpoint(options.destination)];
    family = from.bytes.length === 4 ? 0x11 : 0x21;
    const ports = Buffer.alloc(4);
    ports.writeUInt16BE(from.port, 0);
    ports.writeUInt16BE(to.port, 2);
    block = Buffer.concat([Buffer.from(from.bytes), Buffer.from(to.bytes), ports]);
  }
  const tail = Buffer.concat([block, ...tlvs.map(([type, value]) => Buffer.concat([Buffer.from([type, value.length >> 8, value.length & 0xff]), value]))]);
  const fixed = Buffer.from([...SIGNATURE, command === 'PROXY' ? 0x21 : 0x20, family, tail.length >> 8, tail.length & 0xff]);
  return Buffer.concat([fixed, tail]);
}
