// A scripted IMAP server for the variations of a credential check that a real Dovecot cannot be made
// to show on demand: a greeting without capabilities, no SASL-IR, no ID, an ID answered BAD, a `+`
// after an initial response. It speaks just enough IMAP for a login (STARTTLS, CAPABILITY, ID,
// AUTHENTICATE PLAIN, LOGIN, LOGOUT), over STARTTLS or implicit TLS, and records what it received.
import { readFile, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { TLSSocket, createSecureContext } from 'node:tls';
import { makeCertificate } from './certs.js';

export interface ImapScript {
  /** true: TLS from the first byte; false: plaintext greeting, STARTTLS offered. */
  implicit: boolean;
  /** The one login that succeeds. */
  user: string;
  password: string;
  /** The greeting carries [CAPABILITY …] (default true). */
  greetingCapabilities?: boolean;
  /** SASL-IR offered (default true). */
  saslIr?: boolean;
  /** ID offered (default true), and how the server answers it (default OK; `close`: drops the connection). */
  id?: 'OK' | 'BAD' | 'absent' | 'close';
  /** After AUTHENTICATE PLAIN with an initial response, ask for it again with `+` (default false). */
  plusAfterInitialResponse?: boolean;
}

export interface ReceivedCommand {
  name: string;
  /** Whether it came over TLS. */
  secure: boolean;
  /** The ID command's arguments, as sent. */
  args?: string;
  /** For AUTHENTICATE: whether the credentials came on the command line (SASL-IR). */
  initialResponse?: boolean;
}

export interface ScriptedImap {
  port: number;
  /** Every command line received, in order, across connections (SASL responses are not commands). */
  commands: ReceivedCommand[];
  stop(): Promise<void>;
}

export async function startScriptedImap(script: ImapScript): Promise<ScriptedImap> {
  const cert = await makeCertificate();
  const context = createSecureContext({ key: await readFile(cert.key), cert: await readFile(cert.cert) });
  const commands: ReceivedCommand[] = [];
  const sockets = new Set<Socket>();
  const saslIr = script.saslIr ?? true;
  const id = script.id ?? 'OK';

  const capabilities = (secure: boolean): string =>
    [
      'IMAP4rev1',
      ...(secure ? [] : ['STARTTLS', 'LOGINDISABLED']),
      ...(saslIr ? ['SASL-IR'] : []),
      ...(id === 'absent' ? [] : ['ID']),
      ...(secure ? ['AUTH=PLAIN'] : []),
    ].join(' ');
  const verdict = (tag: string, user: string, password: string): string =>
    user === script.user && password === script.password
      ? `${tag} OK [CAPABILITY IMAP4rev1] Logged in\r\n`
      : `${tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n`;
  const plain = (tag: string, base64: string): string => {
    const [, user = '', password = ''] = Buffer.from(base64, 'base64').toString('utf8').split('\0');
    return verdict(tag, user, password);
  };

  const serve = (socket: Socket, secure: boolean): void => {
    sockets.add(socket);
    socket.on('error', () => {}).on('close', () => sockets.delete(socket));
    const greeting = script.greetingCapabilities ?? true ? `[CAPABILITY ${capabilities(secure)}] ` : '';
    socket.write(`* OK ${greeting}Scripted IMAP ready.\r\n`);
    let pending = '';
    /** The tag of an AUTHENTICATE waiting for its SASL response line. */
    let awaiting: string | null = null;
    const onData = (chunk: Buffer): void => {
      pending += chunk.toString('latin1');
      for (let end = pending.indexOf('\r\n'); end >= 0; end = pending.indexOf('\r\n')) {
        const line = pending.slice(0, end);
        pending = pending.slice(end + 2);
        if (awaiting !== null) {
          socket.write(line === '*' ? `${awaiting} BAD Authentication cancelled\r\n` : plain(awaiting, line));
          awaiting = null;
          continue;
        }
        const [tag = '*', name = '', ...rest] = line.split(' ');
        const command = name.toUpperCase();
        commands.push({
          name: command,
          secure,
          ...(command === 'ID' ? { args: rest.join(' ') } : {}),
          ...(command === 'AUTHENTICATE' ? { initialResponse: rest[1] !== undefined } : {}),
        });
        if (command === 'STARTTLS' && !secure) {
          socket.write(`${tag} OK Begin TLS negotiation now.\r\n`);
          socket.removeListener('data', onData);
          serve(new TLSSocket(socket, { isServer: true, secureContext: context }), true);
          return;
        }
        if (command === 'CAPABILITY') socket.write(`* CAPABILITY ${capabilities(secure)}\r\n${tag} OK Capability completed.\r\n`);
        else if (command === 'ID' && id === 'close') socket.destroy();
        else if (command === 'ID') socket.write(id === 'OK' ? `* ID ("name" "Scripted")\r\n${tag} OK ID completed.\r\n` : `${tag} BAD Unknown command.\r\n`);
        else if (command === 'LOGOUT') socket.end(`* BYE Logging out\r\n${tag} OK Logout completed.\r\n`);
        else if (command === 'LOGIN') socket.write(verdict(tag, rest[0] ?? '', rest[1] ?? ''));
        else if (command === 'AUTHENTICATE' && rest[0]?.toUpperCase() === 'PLAIN') {
          const initial = rest[1];
          if (initial === undefined || script.plusAfterInitialResponse === true) {
            awaiting = tag;
            socket.write('+ \r\n');
          } else socket.write(plain(tag, initial));
        } else socket.write(`${tag} BAD Unknown command.\r\n`);
      }
    };
    socket.on('data', onData);
  };

  const server = createServer((socket) => {
    if (script.implicit) serve(new TLSSocket(socket, { isServer: true, secureContext: context }), true);
    else serve(socket, false);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    commands,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
      await rm(cert.dir, { recursive: true, force: true });
    },
  };
}
