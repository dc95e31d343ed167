// The listening sockets. They outlive config generations: each bound address hands its SMTP sockets
// to `smtp` with the id of the listener that holds the address at that moment (the dispatch serves
// them with the current generation); http addresses serve /metrics. One net.Server per bind address.
// A reload moves them to a new config in two steps: `prepare` binds every address the new config
// adds while the old ones keep accepting, `commit` closes the ones it drops. An address both configs
// bind is never closed, so a listener in both never refuses a connection.
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { BindAddress, ListenerConfig } from '../config/types.js';
import { PosternError } from '../errors.js';

export interface RunningListener {
  id: string;
  protocol: ListenerConfig['protocol'];
  /** Where it accepts, in the order of its `bind`. */
  addresses: AddressInfo[];
}

export interface ListenerHandlers {
  /** An SMTP socket accepted on `listenerId`. */
  smtp(listenerId: string, socket: Socket): void;
  /** A request on an http listener. */
  http(req: IncomingMessage, res: ServerResponse): void;
  /** A listening socket's error after its bind (a failed accept): logged, the listener goes on. */
  error(listenerId: string, error: Error): void;
}

/** A move to a new config's listeners, bound and ready. */
export interface ListenerChange {
  /** Closes what the new config drops and hands the shared addresses to their new listener. Synchronous. */
  commit(): { added: string[]; removed: string[]; rebound: string[] };
  /** Frees what prepare bound; the running listeners stay as they were. */
  abort(): void;
}

/** Addresses that could not be bound: each as `listener <id>: <why>`. */
export class BindFailure extends PosternError {
  constructor(readonly failures: { listener: string; message: string }[]) {
    super('E_BIND', failures.map((f) => `listener "${f.listener}": ${f.message}`).join('; '));
  }
}

/** One bound address. */
class Bound {
  readonly server: NetServer;
  address: AddressInfo | undefined;

  constructor(
    readonly protocol: ListenerConfig['protocol'],
    /** The listener the address belongs to; read at each accept, so a commit can hand it over. */
    public owner: string,
    handlers: ListenerHandlers,
  ) {
    this.server = protocol === 'http' ? createHttpServer(handlers.http) : createNetServer((socket) => handlers.smtp(this.owner, socket));
    // After the bind, an accept error (EMFILE is absorbed by libuv; others are not) must not crash the process.
    this.server.on('error', (err: Error) => handlers.error(this.owner, err));
  }

  async listen({ host, port }: BindAddress): Promise<this> {
    this.server.listen(port, host);
    await Promise.race([once(this.server, 'listening'), once(this.server, 'error').then(([err]) => Promise.reject(err as Error))]);
    this.address = this.server.address() as AddressInfo;
    return this;
  }
}

/**
 * Identifies each bind of `listener` across configs. A fixed port is the same socket whichever
 * listener names it; port 0 ("any port") is this listener's own, its nth such bind.
 */
function keysOf(listener: ListenerConfig): string[] {
  let anyPort = 0;
  return listener.bind.map(({ host, port }) => (port === 0 ? `${host}|0|${listener.id}|${anyPort++}` : `${host}|${port}`));
}

export class Listeners {
  readonly #handlers: ListenerHandlers;
  #configs: ListenerConfig[] = [];
  #bound = new Map<string, Bound>();

  constructor(handlers: ListenerHandlers) {
    this.#handlers = handlers;
  }

  get running(): RunningListener[] {
    return this.#configs.map((l) => ({
      id: l.id,
      protocol: l.protocol,
      addresses: keysOf(l).flatMap((key) => this.#bound.get(key)?.address ?? []),
    }));
  }

  /** Binds every listener of the first config; an address that fails frees the others and rejects. */
  async start(configs: ListenerConfig[]): Promise<void> {
    (await this.prepare(configs)).commit();
  }

  /**
   * Binds every address `configs` has and the running listeners do not; the running ones keep
   * accepting meanwhile. Rejects with a BindFailure naming every address that failed, after freeing
   * the ones that bound: nothing changes then.
   */
  async prepare(configs: ListenerConfig[]): Promise<ListenerChange> {
    const wanted = new Map<string, { listener: ListenerConfig; bind: BindAddress }>();
    for (const listener of configs) keysOf(listener).forEach((key, i) => wanted.set(key, { listener, bind: listener.bind[i]! }));

    const failures: { listener: string; message: string }[] = [];
    const fresh = new Map<string, Promise<Bound>>();
    for (const [key, { listener, bind }] of wanted) {
      const running = this.#bound.get(key);
      if (running === undefined) fresh.set(key, new Bound(listener.protocol, listener.id, this.#handlers).listen(bind));
      else if (running.protocol !== listener.protocol) {
        failures.push({ listener: listener.id, message: `${formatBind(bind)} serves ${running.protocol} now: changing the protocol of a bound address needs a restart` });
      }
    }
    const settled = await Promise.allSettled(fresh.values());
    const bound = new Map<string, Bound>();
    [...fresh.keys()].forEach((key, i) => {
      const result = settled[i]!;
      if (result.status === 'fulfilled') bound.set(key, result.value);
      else failures.push({ listener: wanted.get(key)!.listener.id, message: (result.reason as Error).message });
    });
    const abort = (): void => {
      for (const { server } of bound.values()) server.close();
    };
    if (failures.length > 0) {
      abort();
      throw new BindFailure(failures);
    }

    return {
      abort,
      commit: () => {
        const before = new Map(this.#configs.map((l) => [l.id, keysOf(l).join(' ')]));
        for (const [key, entry] of this.#bound) {
          const owner = wanted.get(key)?.listener.id;
          if (owner === undefined) entry.server.close();
          else entry.owner = owner;
        }
        this.#bound = new Map([...wanted.keys()].map((key) => [key, (bound.get(key) ?? this.#bound.get(key))!]));
        this.#configs = configs;
        const ids = new Set(configs.map((l) => l.id));
        return {
          added: configs.filter((l) => !before.has(l.id)).map((l) => l.id),
          removed: [...before.keys()].filter((id) => !ids.has(id)),
          rebound: configs.filter((l) => before.has(l.id) && before.get(l.id) !== keysOf(l).join(' ')).map((l) => l.id),
        };
      },
    };
  }

  /** Stops accepting. Sessions already accepted are their generation's to drain. */
  async close(): Promise<void> {
    const all = [...this.#bound.values()];
    this.#bound.clear();
    this.#configs = [];
    await Promise.all(
      all.map(({ protocol, server }) => {
        // An SMTP net.Server's close callback waits for every socket it accepted: those are the sessions,
        // which their generation drains after this. An http one only waits for requests under way.
        if (protocol === 'smtp') return void server.close();
        // Node stops timing out half-sent requests once close() is called: a scraper that sent half a
        // request would hold the shutdown for ever. Whatever is still connected is cut.
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        (server as ReturnType<typeof createHttpServer>).closeAllConnections();
        return closed;
      }),
    );
  }
}

function formatBind({ host, port }: BindAddress): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
