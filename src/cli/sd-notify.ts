// systemd's notification protocol (sd_notify(3)) for a `Type=notify` unit: READY=1 once the listeners
// are up, RELOADING=1 … READY=1 around a reload, STOPPING=1 when the drain begins. The messages are
// datagrams on the Unix socket NOTIFY_SOCKET names. Node has no Unix datagram sockets, so systemd's own
// `systemd-notify` sends each one: it waits until the manager has read it, which is what lets the
// manager attribute a message from a short-lived helper to the unit (the unit sets NotifyAccess=all).
import { execFile } from 'node:child_process';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { Serial } from '../runtime/reload.js';

/** systemd-notify waits for the manager; one that does not read its socket must not hold up a reload. */
const NOTIFY_TIMEOUT_MS = 5_000;

export interface ServiceManager {
  /** Sends `fields` (READY: '1', STATUS: '…') as one message, after those sent before; never rejects. */
  notify(fields: Record<string, string>): Promise<void>;
}

/** The manager NOTIFY_SOCKET in `env` names, or one that ignores every message when there is none. */
export function serviceManager(logger: Logger, env: NodeJS.ProcessEnv = process.env): ServiceManager {
  if (!env.NOTIFY_SOCKET) return { notify: () => Promise.resolve() };
  const order = new Serial();
  let warned = false;
  const send = (args: string[]): Promise<void> =>
    new Promise((resolve) => {
      execFile('systemd-notify', args, { env, timeout: NOTIFY_TIMEOUT_MS }, (error, _stdout, stderr) => {
        if (error !== null && !warned) {
          warned = true; // once: the next message would fail the same way
          logger.warn(
            { event: 'systemd.notify', error: stderr.trim() || describeError(error) },
            'NOTIFY_SOCKET is set but systemd-notify could not deliver to it: the service manager does not hear of readiness or reloads',
          );
        }
        resolve();
      });
    });
  return { notify: (fields) => order.run(() => send(Object.entries(fields).map(([key, value]) => `${key}=${value}`))) };
}

/** CLOCK_MONOTONIC in µs, as MONOTONIC_USEC= wants it beside RELOADING=1 (process.hrtime reads that clock). */
export function monotonicMicroseconds(): string {
  return String(process.hrtime.bigint() / 1000n);
}
