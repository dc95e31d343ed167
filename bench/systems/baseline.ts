// The baseline system: bench/baseline-server.ts as a child process.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BaselineSettings } from '../baseline-server.js';
import type { Fixture } from '../fixture.js';
import { spawnSystem, type RunningSystem } from '../process.js';

/** Postern's default message size limit (src/config/load.ts), so both advertise the same SIZE. */
const MAX_MESSAGE_SIZE = 104_857_600;

export async function startBaseline(fx: Fixture, name = 'baseline', nodeArgs: string[] = []): Promise<RunningSystem> {
  const settings: BaselineSettings = {
    cert: fx.cert.cert,
    key: fx.cert.key,
    users: Object.fromEntries(fx.users.map((u) => [u.user, u.password])),
    maxMessageSize: MAX_MESSAGE_SIZE,
  };
  const file = join(fx.dir, `${name}.json`);
  await writeFile(file, JSON.stringify(settings));
  return spawnSystem({
    name,
    command: process.execPath,
    args: [...nodeArgs, ...fx.runner.baseline, file],
    logDir: fx.dir,
    port: async (stdout) => {
      const line = stdout().split('\n').find((l) => l.startsWith('{'));
      return line === undefined ? null : (JSON.parse(line) as { port: number }).port;
    },
  });
}

