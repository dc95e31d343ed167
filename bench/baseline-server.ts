// The baseline for the bench: a bare smtp-server with Postern's listener options (STARTTLS with the
// same certificate, no reverse lookup, PLAIN/LOGIN, size limit, enhanced status codes) and an
// in-memory onAuth, minus the 100 ms early-talker delay before the greeting (docs/testing.md: a fair
// baseline leaves it out, as Postern does). Run as a child process:
//   node --import tsx bench/baseline-server.ts SETTINGS.json
// and prints {"port": N} on stdout once listening on 127.0.0.1.
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

export interface BaselineSettings {
  cert: string;
  key: string;
  users: Record<string, string>;
  maxMessageSize: number;
}

/** smtp-server's init() minus the greeting timer: _setListeners still runs, then the greeting at once. */
class PromptConnection extends SMTPConnection {
  override init(): void {
    this._setListeners(() => {
      const { maxClients } = this._server.options;
      if (maxClients && this._server.connections.size > maxClients) {
        return this.send(421, `${this.name} Too many connected clients, try again in a moment`, false);
      }
      this.connectionReady();
    });
  }
}

class BaselineServer extends SMTPServer {
  // Mirrors SMTPServer.connect with the prompt connection class.
  override connect(socket: Socket | TLSSocket, socketOptions?: ConstructorParameters<typeof SMTPConnection>[2]): void {
    const connection = new PromptConnection(this, socket, socketOptions);
    this.connections.add(connection);
    connection.on('error', (err: Error) => this._onError(err));
    connection.on('connect', (data) => this._onClientConnect(data));
    connection.init();
  }
}

const settingsFile = process.argv[2];
if (settingsFile === undefined) throw new Error('usage: baseline-server.ts SETTINGS.json');
const settings = JSON.parse(readFileSync(settingsFile, 'utf8')) as BaselineSettings;
const users = new Map(Object.entries(settings.users));

const options: SMTPServerOptions = {
  key: readFileSync(settings.key),
  cert: readFileSync(settings.cert),
  secure: false,
  name: 'localhost',
  logger: false,
  disableReverseLookup: true,
  authMethods: ['PLAIN', 'LOGIN'],
  hideENHANCEDSTATUSCODES: false,
  size: settings.maxMessageSize,
  onAuth(auth, _session, callback) {
    if (auth.password !== undefined && users.get(auth.username ?? '') === auth.password) {
      return callback(null, { user: auth.username });
    }
    callback(Object.assign(new Error('Invalid credentials'), { responseCode: 535 }));
  },
  onData(stream, _session, callback) {
    stream.resume();
    stream.on('end', () => callback());
  },
};

const server = new BaselineServer(options);
server.on('error', () => {
  // Per-connection socket errors (a client hanging up mid-handshake) must not end the baseline.
});
server.listen(0, '127.0.0.1', () => {
  const address = server.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
});
// A clean exit on SIGTERM lets --cpu-prof write its profile.
process.once('SIGTERM', () => process.exit(0));
