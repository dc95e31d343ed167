// The control socket (`server.control-socket`): a Unix socket, mode 0600 — file permissions are the
// access control, there is no TCP port. Services register verbs (status, reload, queue …, cache …);
// each connection carries one request and gets one answer.
import { chmod, lstat, rm } from 'node:fs/promises';
import { mkdir } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { describeError } from '../errors.js';
import { ControlRefusal, MAX_REQUEST_BYTES, type ControlRequest, type ControlResponse } from './protocol.js';

export type ControlHandler = (args: Record<string, unknown>) => Promise<unknown> | unknown;

/** A request that has not arrived whole by then is dropped. */
const REQUEST_TIMEOUT_MS = 5_000;

export class ControlServer {
  readonly #handlers = new Map<string, ControlHandler>();
  readonly #onFault: (verb: string, error: unknown) => void;
  #server: Server | undefined;
  #path: string | undefined;

  constructor(onFault: (verb: string, error: unknown) => void) {
    this.#onFault = onFault;
  }

  register(verb: string, handler: ControlHandler): void {
    if (this.#handlers.has(verb)) throw new Error(`control verb "${verb}" registered twice`);
    this.#handlers.set(verb, handler);
  }

  /**
   * Listens on `path`. A socket file left by a process that is gone is replaced; one a live server
   * answers on is an error: two servers on one control socket (and so, usually, one spool) would race.
   */
  async listen(path: string): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    if (await exists(path)) {
      if (await answers(path)) throw new Error(`another Postern is running on control socket ${path}`);
      await rm(path, { force: true });
    }
    const server = createServer((socket) => this.#serve(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // The socket is created under the process umask, which already denies others write (connect)
    // access with any usual umask; 0600 makes it owner-only whatever the umask.
    await chmod(path, 0o600);
    this.#server = server;
    this.#path = path;
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server === undefined) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (this.#path !== undefined) await rm(this.#path, { force: true });
  }

  #serve(socket: Socket): void {
    let buffer = '';
    socket.setEncoding('utf8');
    socket.setTimeout(REQUEST_TIMEOUT_MS, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (buffer.length > MAX_REQUEST_BYTES) return this.#answer(socket, { ok: false, error: 'request too large' });
      const end = buffer.indexOf('\n');
      if (end < 0) return;
      socket.removeAllListeners('data');
      void this.#handle(buffer.slice(0, end)).then((response) => this.#answer(socket, response));
    });
  }

  async #handle(line: string): Promise<ControlResponse> {
    let request: ControlRequest;
    try {
      const parsed = JSON.parse(line) as Partial<ControlRequest>;
      if (typeof parsed.verb !== 'string') throw new Error('no verb');
      request = { verb: parsed.verb, args: typeof parsed.args === 'object' && parsed.args !== null ? parsed.args : {} };
    } catch {
      return { ok: false, error: 'malformed request (expected one JSON line with a "verb")' };
    }
    const handler = this.#handlers.get(request.verb);
    if (handler === undefined) return { ok: false, error: `unknown command "${request.verb}" (known: ${[...this.#handlers.keys()].join(', ')})` };
    try {
      return { ok: true, result: (await handler(request.args)) ?? null };
    } catch (error) {
      if (error instanceof ControlRefusal) return { ok: false, error: error.message };
      this.#onFault(request.verb, error);
      return { ok: false, error: `${request.verb} failed: ${describeError(error)}` };
    }
  }

  #answer(socket: Socket, response: ControlResponse): void {
    socket.end(`${JSON.stringify(response)}\n`);
  }
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

/** Whether something accepts connections on the socket at `path`. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}
