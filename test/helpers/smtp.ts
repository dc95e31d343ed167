// A raw SMTP client over real sockets, for asserting exact reply codes and texts line by line.
import { connect as netConnect, type Socket, type TcpNetConnectOpts } from 'node:net';
import assert from 'node:assert/strict';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

export interface ConnectOptions {
  tls?: boolean;
  host?: string;
  localAddress?: string;
}

export interface SmtpReply {
  code: number;
  /** Text of each line, after "NNN-" / "NNN ". */
  lines: string[];
  /** The last line as sent, e.g. "535 5.7.8 Authentication credentials invalid." */
  last: string;
}

export class SmtpClient {
  #socket: Socket | TLSSocket;
  #buffer = '';
  #pending: string[] = [];
  #waiters: ((line: string | null) => void)[] = [];
  #closed = false;
  readonly closedPromise: Promise<void>;
  greeting!: SmtpReply;

  private constructor(socket: Socket | TLSSocket) {
    this.#socket = socket;
    this.closedPromise = new Promise((resolve) => socket.once('close', () => resolve()));
    this.#attach(socket);
  }

  /** `localAddress`: the client's own address, e.g. "127.0.0.5" (any of 127.0.0.0/8 works on loopback). */
  static async connect(port: number, options: ConnectOptions = {}): Promise<SmtpClient> {
    const host = options.host ?? '127.0.0.1';
    // tls.connect hands these to net.connect (its types lack localAddress).
    const tcp: TcpNetConnectOpts = { port, host, localAddress: options.localAddress };
    const socket = options.tls ? tlsConnect({ ...tcp, rejectUnauthorized: false, servername: 'localhost' }) : netConnect(tcp);
    await new Promise<void>((resolve, reject) => {
      socket.once(options.tls ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    const client = new SmtpClient(socket);
    client.greeting = await client.read();
    return client;
  }

  #attach(socket: Socket | TLSSocket): void {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.#buffer += chunk;
      let at: number;
      while ((at = this.#buffer.indexOf('\r\n')) >= 0) {
        const line = this.#buffer.slice(0, at);
        this.#buffer = this.#buffer.slice(at + 2);
        const waiter = this.#waiters.shift();
        if (waiter) waiter(line);
        else this.#pending.push(line);
      }
    });
    socket.on('error', () => undefined);
    socket.once('close', () => {
      this.#closed = true;
      for (const waiter of this.#waiters.splice(0)) waiter(null);
    });
  }

  #line(timeoutMs: number): Promise<string | null> {
    const ready = this.#pending.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no SMTP reply within ${timeoutMs} ms`)), timeoutMs);
      this.#waiters.push((line) => {
        clearTimeout(timer);
        resolve(line);
      });
    });
  }

  /** Reads one (possibly multi-line) reply. Rejects if the server closes first. */
  async read(timeoutMs = 15_000): Promise<SmtpReply> {
    const lines: string[] = [];
    for (;;) {
      const line = await this.#line(timeoutMs);
      if (line === null) throw new Error(`connection closed${lines.length ? ` after ${lines.join(' | ')}` : ''}`);
      lines.push(line.slice(4));
      if (line[3] !== '-') return { code: Number(line.slice(0, 3)), lines, last: line };
    }
  }

  write(line: string): void {
    this.#socket.write(`${line}\r\n`);
  }

  async send(line: string, timeoutMs?: number): Promise<SmtpReply> {
    this.write(line);
    return this.read(timeoutMs);
  }

  async ehlo(name = 'client.example'): Promise<SmtpReply> {
    return this.send(`EHLO ${name}`);
  }

  /** The mechanisms on the EHLO AUTH line, [] when there is none. */
  static mechanisms(ehlo: SmtpReply): string[] {
    const line = ehlo.lines.find((l) => l.startsWith('AUTH '));
    return line === undefined ? [] : line.slice(5).split(' ');
  }

  async starttls(): Promise<SmtpReply> {
    const reply = await this.send('STARTTLS');
    if (reply.code !== 220) return reply;
    const plain = this.#socket;
    plain.removeAllListeners('data');
    const secure = tlsConnect({ socket: plain, rejectUnauthorized: false, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    this.#socket = secure;
    this.#attach(secure);
    return reply;
  }

  /** The SHA-256 fingerprint of the certificate the server presented, once the session is in TLS. */
  get peerFingerprint(): string | undefined {
    return 'getPeerCertificate' in this.#socket ? this.#socket.getPeerCertificate().fingerprint256 : undefined;
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    this.#socket.destroy();
  }
}

/** What names a listener's port: a running test server. */
export interface Ports {
  port(listener: string): number;
}

/** A session on a STARTTLS listener, through EHLO, STARTTLS (asserted 220) and EHLO again. */
export async function secured(server: Ports, listener = 'submission', options: ConnectOptions = {}): Promise<SmtpClient> {
  const c = await SmtpClient.connect(server.port(listener), options);
  await c.ehlo();
  assert.equal((await c.starttls()).code, 220);
  await c.ehlo();
  return c;
}

/** A session on an implicit-TLS listener, through EHLO. */
export async function securedImplicit(server: Ports, listener = 'submissions', options: ConnectOptions = {}): Promise<SmtpClient> {
  const c = await SmtpClient.connect(server.port(listener), { ...options, tls: true });
  await c.ehlo();
  return c;
}

export const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
export const plain = (user: string, password: string, authzid = ''): string => b64(`${authzid}\0${user}\0${password}`);
