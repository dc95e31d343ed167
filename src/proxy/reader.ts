// Reads a PROXY protocol header off an accepted socket: exactly the header's bytes. Whatever came with
// it (the client's first SMTP line, or its TLS ClientHello on an implicit-TLS listener) is put back
// for the session to read. What to do with the result is the caller's.
import type { Socket } from 'node:net';
import { parseProxyHeader, type ProxyHeader } from './header.js';

export type HeaderRead =
  | Exclude<ProxyHeader, { kind: 'incomplete' }>
  /** No whole header within the time allowed. */
  | { kind: 'timeout'; received: number }
  /** The peer closed (or reset) the connection before a whole header. */
  | { kind: 'truncated'; received: number };

export function readProxyHeader(socket: Socket, timeoutMs: number): Promise<HeaderRead> {
  return new Promise((resolve) => {
    let received: Buffer = Buffer.alloc(0);
    const finish = (result: HeaderRead): void => {
      clearTimeout(timer);
      socket.off('readable', read);
      socket.off('end', cut);
      socket.off('close', cut);
      socket.off('error', cut);
      resolve(result);
    };
    const read = (): void => {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null) {
        received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
        const header = parseProxyHeader(received);
        if (header.kind === 'incomplete') continue;
        if (header.kind !== 'malformed' && received.length > header.length) socket.unshift(received.subarray(header.length));
        return finish(header);
      }
    };
    // A reset before the header is no fault of ours: it ends the wait like a close (the caller destroys).
    const cut = (): void => finish({ kind: 'truncated', received: received.length });
    const timer = setTimeout(() => finish({ kind: 'timeout', received: received.length }), timeoutMs);
    socket.on('readable', read);
    socket.once('end', cut);
    socket.once('close', cut);
    socket.once('error', cut);
  });
}
