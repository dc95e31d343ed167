// The PROXY protocol across a config swap and a shutdown. The balancer is played by the test (a v1
// line written by hand): what is tested is which config decides trust, and what a shutdown does to a
// socket still owing its header, neither of which needs HAProxy.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { listeners } from './helpers/fixtures.js';
import { basics, scratch, startPostern, type TestPostern } from './helpers/postern.js';
import { SmtpClient } from './helpers/smtp.js';
import { eventually, within } from './helpers/wait.js';

const trusting = (networks: string): string => `[server.proxy]\ntrusted-networks = ${networks}\n${listeners({ smtp: 'smtp' })}`;

/** A raw connection from 127.0.0.1 and everything it receives. */
async function rawConnection(server: TestPostern): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
  const socket = connect({ port: server.port('smtp'), host: '127.0.0.1' });
  let received = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (received += chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise((resolve) => socket.once('connect', resolve));
  return { socket, received: () => received, closed };
}

/** A whole session behind a v1 header naming 192.0.2.10: header, greeting (the first may wait for the pool to start), QUIT. */
async function proxiedSession(server: TestPostern): Promise<void> {
  const c = await rawConnection(server);
  c.socket.write('PROXY TCP4 192.0.2.10 127.0.0.1 40000 25\r\n');
  await eventually(() => c.received().startsWith('220 '), 'the greeting after the header', { timeout: 15_000 });
  c.socket.end('QUIT\r\n');
  await within(c.closed, 'the session');
}

const connects = (server: TestPostern): string[] => server.seen.flatMap((e) => (e.type === 'session.connect' ? [e.remoteIp] : []));

test('a swapped-in config decides trust for the next connection', async () => {
  const { dir, cert } = await scratch();
  const server = await startPostern(basics(dir, cert, { listeners: trusting('["127.0.0.0/8"]') }));
  try {
    await proxiedSession(server);
    assert.deepEqual(connects(server), ['192.0.2.10']);

    await server.running.swap(parseConfig(basics(dir, cert, { listeners: trusting('["10.0.0.0/8"]') }), 'test.toml'));
    // No longer trusted: greeted at once, and the same line is an unknown command.
    const direct = await SmtpClient.connect(server.port('smtp'));
    assert.equal(direct.greeting.code, 220);
    assert.equal((await direct.send('PROXY TCP4 192.0.2.10 127.0.0.1 40000 25')).last, '500 5.5.2 Error: command not recognized');
    direct.close();
    assert.deepEqual(connects(server), ['192.0.2.10', '127.0.0.1']);
  } finally {
    await server.close();
  }
});

test('shutdown cuts a trusted peer still owing its header, without counting it as the peer\'s fault', async () => {
  const { dir, cert } = await scratch();
  const server = await startPostern(basics(dir, cert, { listeners: trusting('["127.0.0.1"]') }));
  try {
    // The first session starts the worker pool; after it, one takes milliseconds, far from the 5 s timeout.
    await proxiedSession(server);
    const waiting = await rawConnection(server);
    waiting.socket.write('PROXY TCP4 ');
    // A later session greeted means the server has accepted the first (in order) and is reading its header.
    await proxiedSession(server);
    await server.close();
    // Cut by the close (no reply), not by the 5 s header timeout.
    await within(waiting.closed, 'the cut', 4_000);
    assert.equal(waiting.received(), '');
    assert.deepEqual(server.seen.filter((e) => e.type === 'proxy.refused'), []);
    assert.deepEqual(connects(server), ['192.0.2.10', '192.0.2.10']);
  } finally {
    await server.close(); // a second close is the first one's promise
  }
});
