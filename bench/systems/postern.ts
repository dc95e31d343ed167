// Postern as a child process (its real CLI, `--config FILE`), configured for one bench scenario.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Fixture } from '../fixture.js';
import { spawnSystem, type RunningSystem } from '../process.js';

export type PosternLookup =
  /** The embedded memory directory, plaintext secrets (like the baseline's and Haraka's users). */
  | { kind: 'directory' }
  /** An IMAP remote (the seed's [remote."imap"], STARTTLS unless `implicit`); `cacheEntries` 0 sends every AUTH to IMAP. */
  | { kind: 'imap'; host: string; port: number; cacheEntries: number; concurrency: number; implicit?: boolean };

export interface PosternScenario {
  name: string;
  lookup: PosternLookup;
  /** [server.workers] threads; Postern's default (availableParallelism) when omitted. */
  threads?: number;
  /** server.proxy.trusted-networks: those peers must send a PROXY header (a load balancer in front). */
  proxyTrusted?: string[];
}

const toml = JSON.stringify;

export function posternConfig(fx: Fixture, s: PosternScenario): string {
  const lookup = s.lookup;
  const head = `
[server]
hostname = "localhost"
# One per system: several Posterns run side by side from the same directory.
control-socket = ${toml(join(fx.dir, `${s.name}.sock`))}
${s.threads === undefined ? '' : `\n[server.workers]\nthreads = ${s.threads}\n`}
[server.listener."submission"]
bind = ["127.0.0.1:0"]
${s.proxyTrusted === undefined ? '' : `\n[server.proxy]\ntrusted-networks = ${toml(s.proxyTrusted)}\n`}

[server.tls]
enable = true
implicit = false
certificate = "default"

[certificate."default"]
cert = ${toml(`file://${fx.cert.cert}`)}
private-key = ${toml(`file://${fx.cert.key}`)}

[session.auth]
mechanisms = ["plain", "login"]
lookup = ${toml(lookup.kind === 'directory' ? 'directory/local' : 'remote/imap')}
require = true

[queue]
path = ${toml(join(fx.dir, `${s.name}-queue`))}
`;
  if (lookup.kind === 'directory') {
    const users = fx.users.map((u) => `[[directory."local".users]]\nname = ${toml(u.user)}\nsecret = ${toml(u.password)}\n`);
    return `${head}\n[directory."local"]\ntype = "memory"\n\n${users.join('\n')}`;
  }
  return `${head}
[remote."imap"]
address = ${toml(lookup.host)}
port = ${lookup.port}
protocol = "imap"
concurrency = ${lookup.concurrency}
timeout = "1m"
lookup = true

[remote."imap".cache]
entries = ${lookup.cacheEntries}
ttl = {positive = "1d", negative = "1h"}

[remote."imap".tls]
implicit = ${lookup.implicit === true}
allow-invalid-certs = true
`;
}

/** Reads the port from Postern's `listener.up` log line. */
function portFromLog(stdout: string): number | null {
  for (const line of stdout.split('\n')) {
    if (!line.includes('"listener.up"')) continue;
    const event = JSON.parse(line) as { listener?: string; addresses?: string[] };
    const port = event.listener === 'submission' ? /:(\d+)$/.exec(event.addresses?.[0] ?? '')?.[1] : undefined;
    if (port !== undefined) return Number(port);
  }
  return null;
}

export async function startPosternSystem(fx: Fixture, s: PosternScenario, nodeArgs: string[] = []): Promise<RunningSystem> {
  const file = join(fx.dir, `${s.name}.toml`);
  await writeFile(file, posternConfig(fx, s));
  return spawnSystem({
    name: s.name,
    command: process.execPath,
    args: [...nodeArgs, ...fx.runner.postern, '--config', file],
    cwd: fx.dir,
    logDir: fx.dir,
    port: async (stdout) => portFromLog(stdout()),
  });
}
