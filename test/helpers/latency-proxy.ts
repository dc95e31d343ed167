// A loopback TCP proxy that puts a network between a client and a server: every chunk, each way, is
// held for half the round-trip time before it is passed on, and every connection's traffic is
// recorded so that its client turns can be counted. Shared by the turn-count test and the bench.
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export type Side = 'client' | 'server';

/**
 * One connection's traffic in the order the client lived it: its own bytes and close when it sent
 * them (the client is on loopback with the proxy), the server's when they were handed to the client.
 */
export type TraceEvent = ({ from: Side; kind: 'data'; bytes: number } | { from: Side; kind: 'end' }) & {
  /** performance.now() when it happened (sent by the client; handed to the client). */
  at: number;
};

export interface LatencyProxyOptions {
  /** Where the server listens. */
  targetPort: number;
  targetHost?: string;
  /** Round-trip time the proxy adds: each chunk waits half of it on its way, in each direction. 0 = pass-through. */
  rttMs: number;
}

export interface LatencyProxy {
  port: number;
  /** Changes the added round-trip time for chunks from now on (the bench runs its RTTs through one proxy). */
  setRtt(ms: number): void;
  /** Every connection accepted so far, oldest first. */
  traces(): TraceEvent[][];
  stop(): Promise<void>;
}

/**
 * The client turns of one connection: client flights the server answered before the client closed.
 *
 * A flight is a run of client bytes with no server bytes reaching the client in between: whatever
 * the client sent without waiting (pipelined commands, TLS Finished with the first command after
 * it). It is a turn when what comes next is the server's bytes reaching the client — the client
 * had to wait for them before going on. A last flight followed by the client's own close (a TLS
 * close_notify, a LOGOUT nobody waits for) costs no round trip and is not a turn. The TCP connect
 * and the greeting are waits of every connection alike and are not counted either.
 *
 * With `rttMs` > 0 this cannot split one flight in two: the earliest server bytes that could come
 * between two writes of one flight (an answer to the first, or a TLS session ticket after the
 * Finished) reach the client a whole round trip after the first write; the writes of one flight
 * are microseconds apart.
 */
export function clientTurns(trace: TraceEvent[]): number {
  let turns = 0;
  let inFlight = false;
  for (const event of trace) {
    if (event.from === 'client') {
      if (event.kind === 'data') inFlight = true;
      else inFlight = false; // the client closed: its last flight waited for nothing
    } else if (event.kind === 'data' && inFlight) {
      turns++;
      inFlight = false;
    }
  }
  return turns;
}

type Item = Buffer | 'end' | 'destroy';

/**
 * Forwards one direction with a fixed delay, in order. Ends and resets travel the same way, after
 * the data before them.
 */
class DelayedPipe {
  readonly #queue: { due: number; chunk: Item }[] = [];
  #timer: NodeJS.Timeout | undefined;
  #target: Socket | undefined;

  /** `delay()`: the one-way delay now; `delivered`: told of each item as it is handed on. */
  constructor(
    private readonly delay: () => number,
    private readonly delivered: (item: Item) => void = () => {},
  ) {}

  /** Where to deliver; chunks queued before it is set wait for it. */
  attach(target: Socket): void {
    this.#target = target;
    this.#pump();
  }

  push(chunk: Item): void {
    this.#queue.push({ due: performance.now() + this.delay(), chunk });
    this.#pump();
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#queue.length = 0;
  }

  #pump(): void {
    const target = this.#target;
    if (target === undefined || this.#timer !== undefined) return;
    for (let next = this.#queue[0]; next !== undefined; next = this.#queue[0]) {
      const wait = next.due - performance.now();
      if (wait > 0) {
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.#pump();
        }, wait);
        return;
      }
      this.#queue.shift();
      this.delivered(next.chunk);
      if (next.chunk === 'end') target.end();
      else if (next.chunk === 'destroy') target.destroy();
      else if (!target.destroyed) target.write(next.chunk);
    }
  }
}

export async function startLatencyProxy(o: LatencyProxyOptions): Promise<LatencyProxy> {
  const host = o.targetHost ?? '127.0.0.1';
  let oneWay = o.rttMs / 2;
  const delay = (): number => oneWay;
  const traces: TraceEvent[][] = [];
  const open = new Set<{ client: Socket; upstream?: Socket; pipes: DelayedPipe[] }>();
  // noDelay both ways: the proxy stands for the network, which adds no Nagle hold of its own (with it,
  // a second chunk to a client waits for that client's delayed ACK of the first: 40 ms).
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    const trace: TraceEvent[] = [];
    traces.push(trace);
    const toServer = new DelayedPipe(delay);
    const toClient = new DelayedPipe(delay, (item) => {
      const at = performance.now();
      if (item === 'end') trace.push({ from: 'server', kind: 'end', at });
      else if (item !== 'destroy') trace.push({ from: 'server', kind: 'data', bytes: item.length, at });
    });
    const entry: { client: Socket; upstream?: Socket; pipes: DelayedPipe[] } = { client, pipes: [toServer, toClient] };
    open.add(entry);
    const relay = (socket: Socket, pipe: DelayedPipe, record: boolean): void => {
      socket.on('data', (chunk: Buffer) => {
        if (record) trace.push({ from: 'client', kind: 'data', bytes: chunk.length, at: performance.now() });
        pipe.push(chunk);
      });
      socket.on('end', () => {
        if (record) trace.push({ from: 'client', kind: 'end', at: performance.now() });
        pipe.push('end');
      });
      // A reset (or any error) reaches the other side as one, after the data before it.
      socket.on('error', () => pipe.push('destroy'));
    };
    relay(client, toServer, true);
    toClient.attach(client);
    let closed = 0;
    const onClose = (): void => {
      if (++closed === 2) open.delete(entry);
    };
    client.on('close', onClose);
    // The kernel completed the client's TCP handshake at once; a real one costs a round trip before
    // the client can send and half of another before the server sees the connection (SYN, SYN-ACK,
    // ACK): the upstream connection opens that much later, so the greeting arrives 2 RTT after connect.
    const opening = setTimeout(() => {
      const upstream = connect({ host, port: o.targetPort, allowHalfOpen: true, noDelay: true });
      entry.upstream = upstream;
      relay(upstream, toClient, false);
      upstream.on('close', onClose);
      upstream.once('connect', () => toServer.attach(upstream));
    }, 3 * oneWay);
    client.on('close', () => {
      if (entry.upstream === undefined) {
        clearTimeout(opening);
        onClose();
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    setRtt: (ms) => {
      oneWay = ms / 2;
    },
    traces: () => traces,
    stop: async () => {
      for (const { client, upstream, pipes } of open) {
        for (const pipe of pipes) pipe.clear();
        client.destroy();
        upstream?.destroy();
      }
      open.clear();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
