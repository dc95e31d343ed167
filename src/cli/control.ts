// The CLI's commands for a running server: each sends one verb over the control socket
// (`server.control-socket` of the config given with --config) and prints the answer as text, or as
// JSON with --json. Services register the verbs server-side (src/runtime/postern.ts and beside it).
import { requestControl } from '../control/client.js';
import type { ReloadResult } from '../runtime/reload.js';

export interface ControlCommand {
  /** The verb sent to the server. */
  verb: string;
  /** Positional words after the command (e.g. `queue retry <id>`) and flags become the request's args. */
  args(positionals: string[], flags: Record<string, string | boolean | undefined>): Record<string, unknown>;
  /** The answer as lines of text. */
  format(result: unknown): string[];
  /** Whether the answer reports a failure (the CLI then prints it on stderr and exits 1); never, if absent. */
  failed?(result: unknown): boolean;
}

interface Status {
  version: string;
  pid: number;
  uptimeSeconds: number;
  generation: number;
  listeners: { id: string; protocol: string; addresses: string[] }[];
  sessions: number;
  queue: number;
}

function duration(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3_600);
  const m = Math.floor((seconds % 3_600) / 60);
  const s = seconds % 60;
  return [d && `${d}d`, (d || h) && `${h}h`, (d || h || m) && `${m}m`, `${s}s`].filter(Boolean).join(' ');
}

/** Command name (as typed: "status", "queue list"…) → what it sends and prints. */
export const CONTROL_COMMANDS = new Map<string, ControlCommand>([
  [
    'status',
    {
      verb: 'status',
      args: () => ({}),
      format(result) {
        const s = result as Status;
        return [
          `postern ${s.version}, pid ${s.pid}, up ${duration(s.uptimeSeconds)}, config generation ${s.generation}`,
          ...s.listeners.map((l) => `listener ${l.id}: ${l.protocol} on ${l.addresses.join(', ')}`),
          `sessions open: ${s.sessions}`,
          `queue: ${s.queue} message${s.queue === 1 ? '' : 's'}`,
        ];
      },
    },
  ],
  [
    'reload',
    {
      verb: 'reload',
      args: () => ({}),
      format(result) {
        const r = result as ReloadResult;
        if (!r.ok) return [`reload of ${r.source} refused; config generation ${r.generation} stays in force:`, ...r.problems];
        return [`reloaded ${r.source}: config generation ${r.generation}`, ...r.warnings.map((w) => `warning: ${w}`)];
      },
      failed: (result) => !(result as ReloadResult).ok,
    },
  ],
]);

/** The longest command name `words` starts with ("queue list" before "queue"), with the words after it. */
export function findCommand(words: string[]): { command: ControlCommand; rest: string[] } | undefined {
  for (let n = Math.min(words.length, 3); n > 0; n--) {
    const command = CONTROL_COMMANDS.get(words.slice(0, n).join(' '));
    if (command !== undefined) return { command, rest: words.slice(n) };
  }
  return undefined;
}

export async function runControlCommand(
  socket: string,
  found: { command: ControlCommand; rest: string[] },
  flags: Record<string, string | boolean | undefined>,
): Promise<{ lines: string[]; failed: boolean }> {
  const result = await requestControl(socket, found.command.verb, found.command.args(found.rest, flags));
  return {
    lines: flags.json === true ? [JSON.stringify(result, null, 2)] : found.command.format(result),
    failed: found.command.failed?.(result) ?? false,
  };
}
