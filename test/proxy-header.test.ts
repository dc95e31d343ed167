// The PROXY protocol header parser (pure) and the socket reader in front of it (real loopback sockets).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { test } from 'node:test';
import { MAX_V1_LENGTH, MAX_V2_LENGTH, parseProxyHeader, type ProxyHeader } from '../src/proxy/header.js';
import { readProxyHeader, type HeaderRead } from '../src/proxy/reader.js';
import { v2Header } from './helpers/proxy.js';

const ascii = (text: string): Buffer => Buffer.from(text, 'latin1');
const parse = (bytes: Buffer | string): ProxyHeader => parseProxyHeader(typeof bytes === 'string' ? ascii(bytes) : bytes);
const kind = (bytes: Buffer | string): string => parse(bytes).kind;

test('v1: TCP4 and TCP6 name the client; the header\'s length excludes what follows', () => {
  const line = 'PROXY TCP4 192.0.2.10 198.51.100.1 56324 587\r\n';
  assert.deepEqual(parse(`${line}EHLO client\r\n`), {
    kind: 'proxied',
    version: 1,
    length: line.length,
    source: { address: '192.0.2.10', port: 56324 },
    destination: { address: '198.51.100.1', port: 587 },
  });
  const six = 'PROXY TCP6 2001:DB8:0:0:0:0:0:10 2001:db8::1 65535 0\r\n';
  assert.deepEqual(parse(six), {
    kind: 'proxied',
    version: 1,
    length: six.length,
    source: { address: '2001:db8::10', port: 65535 },
    destination: { address: '2001:db8::1', port: 0 },
  });
  // inet_ntop writes a v4-mapped client of a dual-stack balancer this way: it is the IPv4 client.
  const mapped = parse('PROXY TCP6 ::ffff:192.0.2.7 ::ffff:192.0.2.1 1 2\r\n');
  assert.equal(mapped.kind === 'proxied' && mapped.source.address, '192.0.2.7');
});

test('v1: UNKNOWN keeps the socket\'s address, with or without the optional fields', () => {
  assert.deepEqual(parse('PROXY UNKNOWN\r\nEHLO'), { kind: 'local', version: 1, length: 15, why: 'unknown' });
  const long = `PROXY UNKNOWN ${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}ffff 65535 65535\r\n`;
  assert.equal(long.length, MAX_V1_LENGTH);
  assert.deepEqual(parse(long), { kind: 'local', version: 1, length: MAX_V1_LENGTH, why: 'unknown' });
});

test('v1: anything that does not match the line exactly is malformed', () => {
  const bad: Record<string, string> = {
    'LF alone': 'PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n',
    'CR alone': 'PROXY TCP4 192.0.2.1 192.0.2.2 1 2\rX',
    'lowercase': 'proxy TCP4 192.0.2.1 192.0.2.2 1 2\r\n',
    'unknown protocol': 'PROXY TCP5 192.0.2.1 192.0.2.2 1 2\r\n',
    'two spaces': 'PROXY  TCP4 192.0.2.1 192.0.2.2 1 2\r\n',
    'a field missing': 'PROXY TCP4 192.0.2.1 192.0.2.2 1\r\n',
    'a field too many': 'PROXY TCP4 192.0.2.1 192.0.2.2 1 2 3\r\n',
    'leading zero in the address': 'PROXY TCP4 192.0.2.01 192.0.2.2 1 2\r\n',
    'octet over 255': 'PROXY TCP4 192.0.2.256 192.0.2.2 1 2\r\n',
    'IPv6 under TCP4': 'PROXY TCP4 2001:db8::1 192.0.2.2 1 2\r\n',
    'IPv4 under TCP6': 'PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n',
    'a zone index': 'PROXY TCP6 fe80::1%eth0 2001:db8::2 1 2\r\n',
    'a host name': 'PROXY TCP4 mx.example 192.0.2.2 1 2\r\n',
    'leading zero in the port': 'PROXY TCP4 192.0.2.1 192.0.2.2 01 2\r\n',
    'port over 65535': 'PROXY TCP4 192.0.2.1 192.0.2.2 65536 2\r\n',
    'a control byte': 'PROXY TCP4 192.0.2.1\t192.0.2.2 1 2\r\n',
    'non-ASCII': 'PROXY TCP4 192.0.2.1 192.0.2.2 1 2\u00e9\r\n',
    'no CRLF in 107 bytes': `PROXY UNKNOWN ${'x'.repeat(MAX_V1_LENGTH)}`,
    'CRLF just past 107 bytes': `PROXY UNKNOWN ${'x'.repeat(MAX_V1_LENGTH - 15)}\r\n`,
  };
  for (const [what, text] of Object.entries(bad)) assert.equal(kind(text), 'malformed', what);
});

test('not a PROXY header at all: SMTP, TLS, HTTP are malformed from their first bytes', () => {
  for (const start of ['EHLO client.example\r\n', 'E', 'GET / HTTP/1.1\r\n', 'PROXX', '\r\n\r\n\0\r\nQUIZ']) assert.equal(kind(start), 'malformed', start);
  assert.equal(kind(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00])), 'malformed', 'a TLS ClientHello');
  assert.equal(kind(''), 'incomplete');
});

test('v2: TCP over IPv4 and IPv6 name the client; TLVs are skipped; v4-mapped IPv6 is the IPv4 client', () => {
  const four = v2Header({ source: '192.0.2.10:56324', destination: '198.51.100.1:587' });
  assert.deepEqual(parse(Buffer.concat([four, ascii('EHLO x\r\n')])), {
    kind: 'proxied',
    version: 2,
    length: 28,
    source: { address: '192.0.2.10', port: 56324 },
    destination: { address: '198.51.100.1', port: 587 },
  });
  const six = v2Header({ source: '[2001:db8::10]:1', destination: '[2001:db8::1]:2', tlvs: [[0x05, ascii('unique-id')], [0x04, Buffer.alloc(40)]] });
  const parsed = parse(six);
  assert.deepEqual(parsed, {
    kind: 'proxied',
    version: 2,
    length: 16 + 36 + 3 + 9 + 3 + 40,
    source: { address: '2001:db8::10', port: 1 },
    destination: { address: '2001:db8::1', port: 2 },
  });
  assert.equal(six.length, 16 + 36 + 3 + 9 + 3 + 40);
  const mapped = parse(v2Header({ source: '[::ffff:192.0.2.7]:1', destination: '[::ffff:192.0.2.1]:2' }));
  assert.equal(mapped.kind === 'proxied' && mapped.source.address, '192.0.2.7');
});

test('v2: LOCAL (health checks) keeps the socket\'s address whatever its address block says; so do UNSPEC, UDP and Unix', () => {
  assert.deepEqual(parse(v2Header({ command: 'LOCAL' })), { kind: 'local', version: 2, length: 16, why: 'local' });
  // A LOCAL that carries addresses anyway: they are skipped, by the length the header gives.
  const withAddresses = v2Header({ command: 'LOCAL', source: '192.0.2.10:1', destination: '192.0.2.1:2' });
  assert.deepEqual(parse(withAddresses), { kind: 'local', version: 2, length: 28, why: 'local' });
  assert.deepEqual(parse(v2Header({ family: 0x00, block: Buffer.alloc(5) })), { kind: 'local', version: 2, length: 21, why: 'unknown' });
  assert.deepEqual(parse(v2Header({ family: 0x12, block: Buffer.alloc(12) })), { kind: 'local', version: 2, length: 28, why: 'unknown' });
  assert.deepEqual(parse(v2Header({ family: 0x31, block: Buffer.alloc(216) })), { kind: 'local', version: 2, length: 232, why: 'unix' });
});

test('v2: a wrong version, command or family, a short address block or an oversized header is malformed', () => {
  const valid = v2Header({ source: '192.0.2.10:1', destination: '192.0.2.1:2' });
  const withByte = (index: number, value: number): Buffer => Buffer.from(valid.map((b, i) => (i === index ? value : b)));
  const bad: Record<string, Buffer> = {
    'version 1': withByte(12, 0x11),
    'version 3': withByte(12, 0x31),
    'command 2': withByte(12, 0x22),
    'family 4': withByte(13, 0x41),
    'transport 3': withByte(13, 0x13),
    'signature': withByte(11, 0x0b),
    'TCP4 with a 4-byte block': v2Header({ family: 0x11, block: Buffer.alloc(4) }),
    'TCP6 with a 12-byte block': v2Header({ family: 0x21, block: Buffer.alloc(12) }),
    'Unix with a 108-byte block': v2Header({ family: 0x31, block: Buffer.alloc(108) }),
    'over the length limit': v2Header({ family: 0x11, block: Buffer.alloc(MAX_V2_LENGTH - 16 + 1) }),
  };
  for (const [what, bytes] of Object.entries(bad)) assert.equal(kind(bytes), 'malformed', what);
  // The limit itself is allowed.
  assert.equal(kind(v2Header({ family: 0x11, block: Buffer.alloc(MAX_V2_LENGTH - 16) })), 'proxied');
});

test('every proper prefix of a header is incomplete; a malformed verdict comes as soon as the bad byte is seen', () => {
  const headers = [
    ascii('PROXY TCP6 2001:db8::10 2001:db8::1 65535 587\r\n'),
    ascii('PROXY UNKNOWN\r\n'),
    v2Header({ source: '[2001:db8::10]:1', destination: '[2001:db8::1]:2', tlvs: [[0x02, ascii('mx.example')]] }),
    v2Header({ command: 'LOCAL' }),
  ];
  for (const header of headers) {
    for (let n = 0; n < header.length; n++) assert.equal(kind(header.subarray(0, n)), 'incomplete', `${n} of ${header.length} bytes`);
    assert.notEqual(kind(header), 'incomplete');
  }
  // A wrong version byte is refused at byte 13 of a v2 header, before the length is even known.
  assert.equal(kind(v2Header({ source: '192.0.2.10:1', destination: '192.0.2.1:2' }).subarray(0, 13).fill(0x31, 12)), 'malformed');
  assert.equal(kind('PROXY TCP4 192.0.2.1\n'), 'malformed');
});

test('any byte string: one of the four results, never a throw, and more bytes never change a final verdict', () => {
  // A seeded generator, so a failure here repeats. Inputs lean towards the signatures to reach deep paths.
  let seed = 0x2545f491;
  const random = (n: number): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const starts = [ascii('PROXY '), ascii('PROXY TCP4 '), v2Header({ command: 'LOCAL' }).subarray(0, 12), v2Header({ source: '192.0.2.1:1', destination: '192.0.2.2:2' }).subarray(0, 16)];
  for (let i = 0; i < 5_000; i++) {
    const tail = Buffer.from(Array.from({ length: random(120) }, () => random(4) === 0 ? 0x20 : random(256)));
    const bytes = random(3) === 0 ? tail : Buffer.concat([starts[random(starts.length)]!, tail]);
    const result = parseProxyHeader(bytes);
    assert.ok(['proxied', 'local', 'incomplete', 'malformed'].includes(result.kind));
    if (result.kind === 'incomplete') continue;
    const more = parseProxyHeader(Buffer.concat([bytes, Buffer.from([random(256), random(256)])]));
    assert.deepEqual(more, result, `appending bytes changed the verdict on ${bytes.toString('hex')}`);
  }
});

/** A loopback connection: the accepted socket (server side) and the client. */
async function pair(): Promise<{ accepted: Socket; client: Socket; close(): void }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  const [accepted] = (await once(server, 'connection')) as [Socket];
  return {
    accepted,
    client,
    close: () => {
      client.destroy();
      accepted.destroy();
      server.close();
    },
  };
}

const bytesOf = (socket: Socket): Promise<string> =>
  new Promise((resolve) => {
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.once('end', () => resolve(text));
  });

test('the reader takes exactly the header: what came with it stays on the socket for the session', async () => {
  const { accepted, client, close } = await pair();
  try {
    const header = v2Header({ source: '192.0.2.10:1', destination: '192.0.2.1:2' });
    client.end(Buffer.concat([header, ascii('EHLO client.example\r\n')]));
    const read = await readProxyHeader(accepted, 5_000);
    assert.equal(read.kind === 'proxied' && read.source.address, '192.0.2.10');
    assert.equal(await bytesOf(accepted), 'EHLO client.example\r\n');
  } finally {
    close();
  }
});

test('the reader waits for a header that comes a byte at a time', async () => {
  const { accepted, client, close } = await pair();
  try {
    const line = ascii('PROXY TCP4 192.0.2.10 192.0.2.1 1 2\r\nQUIT\r\n');
    const reading = readProxyHeader(accepted, 5_000);
    for (const byte of line) {
      client.write(Buffer.from([byte]));
      // Let each byte arrive on its own (the point of the test is a fragmented header).
      await new Promise((resolve) => setImmediate(resolve));
    }
    client.end();
    const read = await reading;
    assert.equal(read.kind === 'proxied' && read.source.address, '192.0.2.10');
    assert.equal(await bytesOf(accepted), 'QUIT\r\n');
  } finally {
    close();
  }
});

test('the reader ends on a timeout, on a close mid-header and on a reset, saying how much had come', async () => {
  const cases: [string, (client: Socket) => void, (read: HeaderRead) => boolean][] = [
    ['close mid-header', (c) => c.end(v2Header({ command: 'LOCAL' }).subarray(0, 10)), (r) => r.kind === 'truncated' && r.received === 10],
    ['close before a byte', (c) => c.end(), (r) => r.kind === 'truncated' && r.received === 0],
    // Whether the 4 bytes are read before the reset lands is the kernel's affair.
    ['reset', (c) => c.write('PROX', () => c.resetAndDestroy()), (r) => r.kind === 'truncated'],
  ];
  for (const [what, act, expected] of cases) {
    const { accepted, client, close } = await pair();
    try {
      act(client);
      const read = await readProxyHeader(accepted, 5_000);
      assert.ok(expected(read), `${what}: ${JSON.stringify(read)}`);
    } finally {
      close();
    }
  }
  const { accepted, client, close } = await pair();
  try {
    client.write('PROXY TCP4 ');
    // The bytes are in before the wait starts, so the short deadline cannot beat them.
    await once(accepted, 'readable');
    assert.deepEqual(await readProxyHeader(accepted, 100), { kind: 'timeout', received: 11 });
    assert.equal(accepted.destroyed, false, 'closing is the caller\'s decision');
  } finally {
    close();
  }
});
