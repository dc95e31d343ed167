// The CLI's side of the control socket: one request, one answer, and a clear sentence for each way
// it can fail (nothing running, wrong user, a server that does not answer).
import { createConnection } from 'node:net';
import type { ControlResponse } from './protocol.js';

export class ControlUnavailable extends Error {}

const DEFAULT_TIMEOUT_MS = 30_000;
/** A `queue list --json` of a large backlog is the longest answer; anything past this is not a server's. */
const MAX_ANSWER_BYTES = 256 * 1024 * 1024;

/** Sends `verb` to the server on `path`; resolves with its result, rejects with ControlUnavailable or the server's error. */
export function requestControl(path: string, verb: string, args: Record<string, unknown> = {}, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let buffer = '';
    socket.setEncoding('utf8');
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      reject(new ControlUnavailable(`no answer from the server on ${path} within ${Math.round(timeoutMs / 1000)} s`));
    });
    socket.once('connect', () => socket.write(`${JSON.stringify({ verb, args })}\n`));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (buffer.length <= MAX_ANSWER_BYTES) return;
      socket.destroy();
      reject(new ControlUnavailable(`the server on ${path} sent an answer over ${MAX_ANSWER_BYTES >> 20} MiB`));
    });
    socket.once('error', (err: NodeJS.ErrnoException) => reject(unavailable(err, path)));
    socket.once('end', () => {
      let response: ControlResponse;
      try {
        response = JSON.parse(buffer) as ControlResponse;
      } catch {
        return reject(new ControlUnavailable(`the server on ${path} sent an answer that is not JSON`));
      }
      if (response.ok) resolve(response.result);
      else reject(new Error(response.error));
    });
  });
}

function unavailable(err: NodeJS.ErrnoException, path: string): ControlUnavailable {
  switch (err.code) {
    case 'ENOENT':
    case 'ECONNREFUSED':
      return new ControlUnavailable(`no Postern is running with control socket ${path} (start it, or pass the --config it runs with)`);
    case 'EACCES':
    case 'EPERM':
      return new ControlUnavailable(`permission denied on ${path}: run this as the user Postern runs as (the socket is mode 0600)`);
    default:
      return new ControlUnavailable(`cannot reach the server on ${path}: ${err.message}`);
  }
}
