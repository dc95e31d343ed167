// A minimal SMTP client over raw sockets for the load generator: a client library would dominate the
// generator's own profile, and the generator shares the machine's cores with the server under test.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

export interface Reply {
  code: number;
  /** Every line of the reply, without CRLF. */
  lines: string[];
}

/** Reads complete SMTP replies ("250-…" continuation lines up to "250 …") off one socket. */
export class ReplyReader {
  #buffer = '';
  #lines: string[] = [];
  readonly #ready: Reply[] = [];
  #waiting: ((reply: Reply) => void) | null = null;
  #failed: Error | null = null;
  #onFail: ((err: Error) => void) | null = null;
  #socket: Socket | TLSSocket;

  constructor(socket: Socket | TLSSocket) {
    this.#socket = socket;
    this.#attach(socket);
  }

  /** Moves reading to the TLS socket after STARTTLS; the plain socket's handlers are dropped. */
  switchTo(socket: TLSSocket): void {
    this.#socket.removeAllListeners('data');
    this.#socket = socket;
    this.#buffer = '';
    this.#attach(socket);
  }

  next(): Promise<Reply> {
    const reply = this.#ready.shift();
    if (reply !== undefined) return Promise.resolve(reply);
    if (this.#failed !== null) return Promise.reject(this.#failed);
    return new Promise((resolve, reject) => {
      this.#waiting = resolve;
      this.#onFail = reject;
    });
  }

  fail(err: Error): void {
    if (this.#failed !== null) return;
    this.#failed = err;
    const reject = this.#onFail;
    this.#waiting = this.#onFail = null;
    reject?.(err);
  }

  #attach(socket: Socket | TLSSocket): void {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.#feed(chunk));
  }

  #feed(chunk: string): void {
    this.#buffer += chunk;
    let end: number;
    while ((end = this.#buffer.indexOf('\r\n')) >= 0) {
      const line = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      this.#lines.push(line);
      if (line.charAt(3) === '-') continue;
      const reply: Reply = { code: Number(line.slice(0, 3)), lines: this.#lines };
      this.#lines = [];
      const resolve = this.#waiting;
      this.#waiting = this.#onFail = null;
      if (resolve !== null) resolve(reply);
      else this.#ready.push(reply);
    }
  }
}

/** One SMTP conversation: send a line, await the reply. Errors and closes fail the pending read. */
export class Conversation {
  socket: Socket | TLSSocket;
  readonly reader: ReplyReader;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.reader = new ReplyReader(socket);
    const fail = (err: Error): void => this.reader.fail(err);
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
  }

  static open(host: string, port: number): Promise<Conversation> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host, port });
      socket.setNoDelay(true);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new Conversation(socket));
      });
      socket.once('error', reject);
    });
  }

  greeting(): Promise<Reply> {
    return this.reader.next();
  }

  command(line: string): Promise<Reply> {
    this.socket.write(`${line}\r\n`);
    return this.reader.next();
  }

  /** After a 220 to STARTTLS: handshake (self-signed certificates accepted) and read over TLS from then on. */
  startTls(servername?: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const plain = this.socket as Socket;
      const secure = tlsConnect({ socket: plain, rejectUnauthorized: false, ...(servername ? { servername } : {}) });
      secure.once('secureConnect', () => {
        secure.off('error', reject);
        secure.on('error', (err) => this.reader.fail(err));
        secure.on('close', () => this.reader.fail(new Error('connection closed')));
        resolve();
      });
      secure.once('error', reject);
      this.reader.switchTo(secure);
      this.socket = secure;
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

export function authPlain(user: string, password: string): string {
  return `AUTH PLAIN ${Buffer.from(`\0${user}\0${password}`, 'utf8').toString('base64')}`;
}
