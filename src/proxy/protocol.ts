// The PROXY protocol on SMTP listeners: which client an accepted socket speaks for. A peer inside the
// listener's trusted networks (a load balancer) must open with a header naming the client; any other
// peer is never parsed — a PROXY line from it reaches the session as the unknown command it is.
// Long-lived (the host's): the trusted networks are read per socket from the config it is given, so a
// new generation's take effect for the next connection.
import type { Socket } from 'node:net';
import { formatIp, inNetwork, parseIp } from '../config/ip.js';
import type { Config } from '../config/types.js';
import type { EventBus } from '../events.js';
import type { Endpoint } from './header.js';
import { readProxyHeader } from './reader.js';

/** How long a trusted peer has to send its whole header, from the accept. */
const HEADER_TIMEOUT_MS = 5_000;

export class ProxyProtocol {
  readonly #events: EventBus;
  /** Trusted peers' sockets whose header is still awaited. */
  readonly #reading = new Set<Socket>();
  #closed = false;

  constructor(events: EventBus) {
    this.#events = events;
  }

  /**
   * The client `socket` speaks for: the header's source when a trusted peer sent one, else the peer
   * itself. null when the socket is closed instead: a trusted peer sent no valid header in time, or
   * the socket went away (or the host is shutting down) first.
   */
  async client(listenerId: string, socket: Socket, config: Config): Promise<Endpoint | null> {
    const peerBytes = socket.remoteAddress === undefined ? null : parseIp(socket.remoteAddress);
    if (peerBytes === null || this.#closed) {
      socket.destroy();
      return null;
    }
    const peer = { address: formatIp(peerBytes), port: socket.remotePort ?? 0 };
    const trusted = config.listeners.find((l) => l.id === listenerId)?.proxy.trustedNetworks ?? [];
    if (!trusted.some((network) => inNetwork(network, peerBytes))) return peer;

    this.#reading.add(socket);
    const header = await readProxyHeader(socket, HEADER_TIMEOUT_MS);
    this.#reading.delete(socket);
    if (this.#closed) {
      socket.destroy();
      return null;
    }
    const listener = listenerId;
    switch (header.kind) {
      case 'proxied':
        this.#events.emit({ type: 'proxy.header', listener, peerIp: peer.address, version: header.version, result: 'proxied', remoteIp: header.source.address });
        return header.source;
      case 'local':
        this.#events.emit({ type: 'proxy.header', listener, peerIp: peer.address, version: header.version, result: 'local', why: header.why, remoteIp: peer.address });
        return peer;
      case 'malformed':
        // Nothing is written back: whatever sent this does not speak SMTP to us.
        socket.destroy();
        this.#events.emit({ type: 'proxy.refused', listener, peerIp: peer.address, reason: 'malformed', detail: header.reason });
        return null;
      case 'timeout':
      case 'truncated':
        socket.destroy();
        this.#events.emit({ type: 'proxy.refused', listener, peerIp: peer.address, reason: header.kind, received: header.received });
        return null;
    }
  }

  /** Shutdown: sockets still in their header are cut (the listeners have stopped; nothing new arrives). */
  close(): void {
    this.#closed = true;
    for (const socket of this.#reading) socket.destroy();
  }
}
