// The listening sockets. They outlive config generations: an SMTP listener hands every accepted
// socket to `dispatch`, which serves it with the generation current at that moment; an http
// listener serves /metrics. One net.Server per bind address.
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { ListenerConfig } from '../config/types.js';

export interface RunningListener {
  id: string;
  protocol: ListenerConfig['protocol'];
  addresses: AddressInfo[];
  /** Stops accepting; sessions already accepted are their generation's to drain. */
  close(): Promise<void>;
}

export async function startSmtpListener(listener: ListenerConfig, dispatch: (socket: Socket) => void): Promise<RunningListener> {
  const servers: NetServer[] = [];
  const addresses = await bindAll(listener, (host, port) => {
    const server = createNetServer(dispatch);
    servers.push(server);
    return server.listen(port, host);
  });
  return {
    id: listener.id,
    protocol: 'smtp',
    addresses,
    close: async () => {
      // Not closeAll: a net.Server's close callback waits for every socket it accepted, and those are
      // the sessions, which their generation drains after this.
      for (const server of servers) if (server.listening) server.close();
    },
  };
}

export async function startHttpListener(
  listener: ListenerConfig,
  handle: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<RunningListener> {
  const servers: NetServer[] = [];
  const addresses = await bindAll(listener, (host, port) => {
    const server = createHttpServer(handle);
    servers.push(server);
    return server.listen(port, host);
  });
  return { id: listener.id, protocol: 'http', addresses, close: () => closeAll(servers) };
}

function closeAll(servers: NetServer[]): Promise<void> {
  return Promise.all(servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve())))).then(
    () => undefined,
  );
}

async function bindAll(listener: ListenerConfig, listen: (host: string, port: number) => NetServer): Promise<AddressInfo[]> {
  const servers = listener.bind.map(({ host, port }) => listen(host, port));
  const bound = await Promise.allSettled(
    servers.map(async (server) => {
      await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err))]);
      return server.address() as AddressInfo;
    }),
  );
  const failed = bound.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed === undefined) return bound.map((result) => (result as PromiseFulfilledResult<AddressInfo>).value);
  // One address failed: free those that bound, or they would hold their ports and keep the process alive.
  await closeAll(servers);
  throw failed.reason;
}
