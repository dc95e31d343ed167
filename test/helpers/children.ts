// Peers the tests and the bench start as child processes: waiting for them, and never leaving them behind.
import type { ChildProcess } from 'node:child_process';
import { constants } from 'node:os';

export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

const running = new Map<ChildProcess, { group: boolean }>();
let installed = false;

function killAll(): void {
  for (const [child, { group }] of running) {
    try {
      if (group && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      else child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * Kills `child` (its process group when `group`: it was spawned detached) if this process exits first —
 * a crash, an EPIPE on stdout, Ctrl-C, a timeout's SIGTERM — instead of leaving a server on the machine
 * that skews every later measurement.
 */
export function reapOnExit(child: ChildProcess, { group = false } = {}): void {
  if (!installed) {
    installed = true;
    process.once('exit', killAll);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      // Node's default for these signals skips 'exit' handlers; exit the same way, through them.
      if (process.listenerCount(signal) === 0) process.once(signal, () => process.exit(128 + constants.signals[signal]));
    }
  }
  running.set(child, { group });
  child.once('exit', () => running.delete(child));
}
