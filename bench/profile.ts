// Where a server spends its CPU under the bench's load:
//   node --import tsx bench/profile.ts [--system postern-local|postern-imap-warm|postern-imap-cold|baseline|haraka] [--seconds 8] [--top 20] [--no-build]
//     [--keep-profiles DIR]   (the raw .cpuprofile files, for call trees in Chrome DevTools)
// Starts the system with `node --cpu-prof`, warms it, loads it like `npm run bench` does, stops it
// (a clean exit writes the profile; worker threads write their own), and prints the top self-time
// frames per thread and self time per package.
import { cp, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startDovecot, type RunningDovecot } from '../test/helpers/dovecot.js';
import { benchUsers, createFixture, prepareRunner, ROOT } from './fixture.js';
import { runLoad } from './load.js';
import type { RunningSystem } from './process.js';
import { REMOTE_SETTINGS } from './remote.js';
import { startBaseline } from './systems/baseline.js';
import { startHaraka } from './systems/haraka.js';
import { startPosternSystem } from './systems/postern.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const SYSTEMS = ['baseline', 'haraka', 'postern-local', 'postern-imap-warm', 'postern-imap-cold'] as const;

/** file:///work/main/node_modules/smtp-server/dist/esm/x.js → smtp-server/dist/esm/x.js */
function shortUrl(url: string): string {
  const path = url.replace(/^file:\/\//, '');
  const inModules = path.lastIndexOf('/node_modules/');
  if (inModules >= 0) return path.slice(inModules + '/node_modules/'.length);
  return path.startsWith(`${ROOT}/`) ? path.slice(ROOT.length + 1) : path;
}

/** The package (or "node:internal", "postern") a frame belongs to. */
function owner(url: string): string {
  if (url === '') return '(native/vm)';
  if (url.startsWith('node:')) return 'node:internal';
  const short = shortUrl(url);
  if (short === url.replace(/^file:\/\//, '')) return short.startsWith('/') ? 'other' : short;
  const parts = short.split('/');
  if (url.includes('/node_modules/')) return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? short);
  return 'postern';
}

function selfTimes(profile: CpuProfile): { frames: Map<string, number>; owners: Map<string, number>; totalUs: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const frames = new Map<string, number>();
  const owners = new Map<string, number>();
  let totalUs = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const dt = profile.timeDeltas[i] ?? 0;
    if (node === undefined) return;
    const { functionName, url, lineNumber } = node.callFrame;
    const key = url === '' ? functionName || '(anonymous)' : `${functionName || '(anonymous)'}  ${shortUrl(url)}:${lineNumber + 1}`;
    frames.set(key, (frames.get(key) ?? 0) + dt);
    const who = functionName === '(garbage collector)' ? '(gc)' : functionName === '(idle)' ? '(idle)' : functionName === '(program)' ? '(program)' : owner(url);
    owners.set(who, (owners.get(who) ?? 0) + dt);
    totalUs += dt;
  });
  return { frames, owners, totalUs };
}

function top(map: Map<string, number>, totalUs: number, n: number): string[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([key, us]) => `  ${((us / totalUs) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${key}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      system: { type: 'string', default: 'postern-local' },
      seconds: { type: 'string', default: '8' },
      top: { type: 'string', default: '20' },
      concurrency: { type: 'string', default: '10' },
      'no-build': { type: 'boolean' },
      'keep-profiles': { type: 'string' },
    },
  });
  const system = values.system as (typeof SYSTEMS)[number];
  if (!SYSTEMS.includes(system)) throw new Error(`--system: one of ${SYSTEMS.join(', ')}`);
  const users = benchUsers(50);
  const fx = await createFixture(await prepareRunner(!values['no-build']), users);
  const profiles = join(fx.dir, 'profiles');
  const nodeArgs = ['--cpu-prof', '--cpu-prof-dir', profiles];
  let dovecot: RunningDovecot | undefined;
  let running: RunningSystem | undefined;
  try {
    if (system === 'postern-imap-warm' || system === 'postern-imap-cold') {
      // The cold-path bench's remote settings (reused login and imap processes), at no added RTT.
      dovecot = await startDovecot({ users: Object.fromEntries(users.map((u) => [u.user, u.password])), extraConf: REMOTE_SETTINGS });
    }
    running =
      system === 'baseline'
        ? await startBaseline(fx, system, nodeArgs)
        : system === 'haraka'
          ? await startHaraka(fx, system, nodeArgs)
          : await startPosternSystem(
              fx,
              {
                name: system,
                lookup:
                  system === 'postern-local'
                    ? { kind: 'directory' }
                    : { kind: 'imap', host: '127.0.0.1', port: dovecot?.imapPort ?? 0, cacheEntries: system === 'postern-imap-cold' ? 0 : 1000, concurrency: 10 },
              },
              nodeArgs,
            );
    const load = { port: running.port, concurrency: Number(values.concurrency), starttls: true, users };
    await runLoad({ ...load, sessions: users.length * 2, durationMs: 10_000 });
    const cpu = running.mainThreadCpuNs();
    const result = await runLoad({ ...load, sessions: 1_000_000, durationMs: Number(values.seconds) * 1000, progress: system });
    const perSession = (running.mainThreadCpuNs() - cpu) / 1000 / Math.max(1, result.completed);
    process.stdout.write(`${system}: ${result.sessionsPerSecond.toFixed(0)} sessions/s under the profiler (profiling slows it)\n`);
    process.stdout.write(`main thread: ${perSession.toFixed(0)} µs of CPU per session (/proc schedstat, profiler included)\n`);
    await running.stop();
    running = undefined;

    if (values['keep-profiles'] !== undefined) await cp(profiles, values['keep-profiles'], { recursive: true });
    const files = (await readdir(profiles)).filter((f) => f.endsWith('.cpuprofile')).sort();
    for (const file of files) {
      const profile = JSON.parse(await readFile(join(profiles, file), 'utf8')) as CpuProfile;
      const { frames, owners, totalUs } = selfTimes(profile);
      // Piscina's idle workers show up as (idle)/(program) only: not worth a section.
      const busy = totalUs - (owners.get('(idle)') ?? 0);
      if (busy < totalUs * 0.02) continue;
      // Named CPU.date.time.pid.tid.seq.cpuprofile; thread id 0 is the main thread.
      const thread = /\.\d+\.(\d+)\.\d+\.cpuprofile$/.exec(file)?.[1] === '0' ? 'main thread' : 'worker thread';
      process.stdout.write(`\n${thread} (${file}): ${(totalUs / 1e6).toFixed(1)} s sampled, ${((busy / totalUs) * 100).toFixed(0)}% not idle\n`);
      process.stdout.write(`top self time by frame:\n${top(frames, totalUs, Number(values.top)).join('\n')}\n`);
      process.stdout.write(`self time by package:\n${top(owners, totalUs, 12).join('\n')}\n`);
    }
  } finally {
    await running?.stop();
    await dovecot?.stop();
    await fx.close();
  }
}

await main();
