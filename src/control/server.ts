// The control socket (`server.control-socket`): a Unix socket, mode 0600 — file permissions are the
// access control, there is no TCP port. Services register verbs (status, reload, queue …, cache …);
// each connection carries one request and gets one answer.
import { rmSync } from 'node:fs';
import { chmod, lstat, mkdir, rm } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { describeError } from '../errors.js';
import { ControlRefusal, MAX_REQUEST_BYTES, type ControlRequest, type ControlResponse } from './protocol.js';

/** A live server answers on the path: two on one control socket (and so, usually, one spool) would race. */
export class ControlSocketInUse extends Error {
  constructor(path: string) {
    super(`another Postern is running on control socket ${path} (give each server its own server.control-socket)`);
  }
}

export type ControlHandler = (args: Record<string, unknown>) => Promise<unknown> | unknown;

/** A request that has not arrived whole by then is dropped. */
const REQUEST_TIMEOUT_MS = 5_000;

export class ControlServer {
  readonly #handlers = new Map<string, ControlHandler>();
  readonly #onFault: (verb: string, error: unknown) => void;
  readonly #requestTimeoutMs: number;
  #bound: { server: Server; path: string } | undefined;

  constructor(onFault: (verb: string, error: unknown) => void, { requestTimeoutMs = REQUEST_TIMEOUT_MS } = {}) {
    this.#onFault = onFault;
    this.#requestTimeoutMs = requestTimeoutMs;
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
    this.#bound = await this.#bind(path);
  }

  /**
   * Moves to `path` (a reload changed server.control-socket; null = none): listens there now, and
   * `commit()` stops listening on the old one. Rejects, with the old one still answering, if `path`
   * cannot be listened on.
   */
  async prepareMove(path: string | null): Promise<{ commit(): void; abort(): void }> {
    const old = this.#bound;
    if (path === (old?.path ?? null)) return { commit: () => {}, abort: () => {} };
    const next = path === null ? undefined : await this.#bind(path);
    return {
      commit: () => {
        this.#bound = next;
        // Not awaited: the connection asking for this reload is still open, and it gets its answer.
        if (old !== undefined) void unbind(old);
      },
      abort: () => void (next && unbind(next)),
    };
  }

  async close(): Promise<void> {
    const bound = this.#bound;
    this.#bound = undefined;
    if (bound !== undefined) await unbind(bound);
  }

  async #bind(path: string): Promise<{ server: Server; path: string }> {
    await mkdir(dirname(path), { recursive: true });
    const existing = await lstat(path).catch(() => undefined);
    if (existing !== undefined) {
      // Only a socket nothing accepts on is ours to replace: a regular file there is a wrong path, and a
      // socket we may not connect to belongs to someone else.
      if (!existing.isSocket()) throw new Error(`${path} exists and is not a socket: refusing to replace it (set server.control-socket)`);
      const probe = await probeSocket(path);
      if (probe === 'live') throw new ControlSocketInUse(path);
      if (probe === 'denied') throw new Error(`${path} is a socket this user may not use: refusing to replace it`);
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
    return { server, path };
  }

  #serve(socket: Socket): void {
    let buffer = '';
    socket.setEncoding('utf8');
    socket.setTimeout(this.#requestTimeoutMs, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (buffer.length > MAX_REQUEST_BYTES) return this.#answer(socket, { ok: false, error: 'request too large' });
      const end = buffer.indexOf('\n');
      if (end < 0) return;
      socket.removeAllListeners('data');
      // The deadline is for the request's arrival: a verb may take longer (a reload builds a pool).
      socket.setTimeout(0);
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

/** Removes the socket file and stops listening; resolves once the connections still open have closed. */
function unbind({ server, path }: { server: Server; path: string }): Promise<void> {
  // The file goes at once: a later bind of the same path must not lose its new file to this one.
  rmSync(path, { force: true });
  return new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Whether something accepts connections on the socket at `path`: refused means stale. */
function probeSocket(path: string): Promise<'live' | 'stale' | 'denied'> {
  return new Promise((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve('live');
    });
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'EACCES' || err.code === 'EPERM' ? 'denied' : 'stale'));
  });
}
