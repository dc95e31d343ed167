// `npm run bench [-- --smoke] [-- --only name1,name2] [-- --rounds N] [-- --no-build]`
// Starts every system as a child process, runs rounds alternating between them, prints medians and
// ratios, and writes the same as JSON to bench/results/latest.json (smoke.json for --smoke).
//
// Names for --only: baseline, haraka, postern-local, postern-imap-warm (throughput), cold (the cold
// IMAP path at 0, 10 and 40 ms RTT: Postern, Postfix with Dovecot passdb imap, direct Dovecot logins;
// bench/cold.ts), single-flight, memory, sweep (worker threads 1, 2, 4), haproxy (postern-local's
// config on a node behind HAProxy, against postern-local direct).
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { measureColdRound, startColdSystems, type ColdSystems } from './cold.js';
import { benchUsers, createFixture, prepareRunner, ROOT, type Fixture } from './fixture.js';
import { authAtOnce, openSessions, quitAll, runLoad, type Credential, type LoadResult } from './load.js';
import type { RunningSystem } from './process.js';
import { startRemote, type Remote } from './remote.js';
import { formatTable, machine, summarize, type Measurements, type MemorySample } from './report.js';
import { startBaseline } from './systems/baseline.js';
import { startHaraka } from './systems/haraka.js';
import { startBehindHaproxy } from './systems/haproxy.js';
import { startPosternSystem } from './systems/postern.js';

const ALL = ['baseline', 'haraka', 'postern-local', 'postern-imap-warm', 'cold', 'single-flight', 'memory', 'sweep', 'haproxy'] as const;
type Name = (typeof ALL)[number];

interface Settings {
  rounds: number;
  /** Length of one throughput measurement. */
  seconds: number;
  sweepSeconds: number;
  /** Unmeasured load right before each throughput measurement. */
  leadInSeconds: number;
  /** SMTP clients at once (the throughput and cold measurements). */
  concurrency: number;
  /** Session cap of one throughput measurement (the time bound normally ends it first). */
  maxSessions: number;
  coldCount: number;
  memorySessions: number;
  singleFlight: number;
  users: number;
}

const FULL: Settings = { rounds: 3, seconds: 8, sweepSeconds: 5, leadInSeconds: 3, concurrency: 10, maxSessions: 100_000, coldCount: 300, memorySessions: 2000, singleFlight: 100, users: 50 };
const SMOKE: Settings = { rounds: 1, seconds: 1, sweepSeconds: 0.5, leadInSeconds: 0.2, concurrency: 4, maxSessions: 2_000, coldCount: 20, memorySessions: 50, singleFlight: 100, users: 10 };
const SWEEP_THREADS = [1, 2, 4];
/** Upper bound of the cold measurement and of opening the memory sessions; the count normally ends them. */
const SLOW_PHASE_MS = 120_000;

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function options(): { settings: Settings; only: Set<Name>; build: boolean; smoke: boolean } {
  const { values } = parseArgs({
    options: {
      smoke: { type: 'boolean' },
      only: { type: 'string' },
      rounds: { type: 'string' },
      seconds: { type: 'string' },
      'no-build': { type: 'boolean' },
    },
  });
  const settings = { ...(values.smoke ? SMOKE : FULL) };
  if (values.rounds !== undefined) settings.rounds = Number(values.rounds);
  if (values.seconds !== undefined) settings.seconds = Number(values.seconds);
  const only = new Set<Name>();
  for (const name of values.only?.split(',') ?? ALL) {
    if (!(ALL as readonly string[]).includes(name)) throw new Error(`--only: unknown "${name}"; one of ${ALL.join(', ')}`);
    only.add(name as Name);
  }
  return { settings, only, build: !values['no-build'], smoke: values.smoke === true };
}

/** One throughput system: how to start it, and the users its load rotates through. */
interface Contender {
  name: string;
  seconds: number;
  start(): Promise<RunningSystem>;
  running?: RunningSystem;
}

async function main(): Promise<void> {
  const { settings: s, only, build, smoke } = options();
  const users = benchUsers(s.users);
  const coldUsers = benchUsers(Math.max(s.coldCount, s.concurrency * 4), 'cold');
  const sfUsers = benchUsers(s.rounds, 'once');

  log(`postern bench: ${smoke ? 'smoke' : 'full'} run, ${s.rounds} round(s), ${s.concurrency} concurrent clients`);
  const runner = await prepareRunner(build);
  log(runner.mode === 'compiled' ? 'running compiled (npm run build)' : `running through tsx${runner.buildError ? ` (build failed: ${runner.buildError})` : ''}`);
  const fx = await createFixture(runner, users);
  const started: RunningSystem[] = [];
  let remote: Remote | undefined;
  let cold: ColdSystems | undefined;
  const m: Measurements = {
    throughput: {},
    cold: { samples: [], count: s.coldCount },
    singleFlight: { dovecotLogins: [], replies: [], concurrent: s.singleFlight },
    memory: {},
    loadavg: [],
  };
  const keep = async (system: Promise<RunningSystem>): Promise<RunningSystem> => {
    const running = await system;
    started.push(running);
    return running;
  };

  try {
    const needsDovecot = only.has('postern-imap-warm') || only.has('cold') || only.has('single-flight');
    if (needsDovecot) {
      remote = await startRemote([...users, ...coldUsers, ...sfUsers]);
      log(`dovecot on 127.0.0.1:${remote.dovecot.imapPort}, cold-path proxies :${remote.starttls.port} (STARTTLS), :${remote.implicit.port} (implicit TLS)`);
    }
    // The warm and single-flight systems reach Dovecot directly; the cold ones through the proxies.
    const imap = (cacheEntries: number) =>
      ({ kind: 'imap', host: '127.0.0.1', port: remote?.dovecot.imapPort ?? 0, cacheEntries, concurrency: 10 }) as const;

    // Throughput contenders: each started once, warmed, then measured once per round.
    const contenders: Contender[] = [];
    const add = (name: string, seconds: number, start: () => Promise<RunningSystem>): void => {
      contenders.push({ name, seconds, start });
    };
    if (only.has('baseline')) add('baseline', s.seconds, () => startBaseline(fx));
    if (only.has('haraka')) add('haraka', s.seconds, () => startHaraka(fx));
    // The balancer's overhead is measured against the same node direct, in the same rounds.
    if (only.has('postern-local') || only.has('haproxy')) {
      add('postern-local', s.seconds, () => startPosternSystem(fx, { name: 'postern-local', lookup: { kind: 'directory' } }));
    }
    if (only.has('haproxy')) add('postern-haproxy', s.seconds, () => startBehindHaproxy(fx, { name: 'postern-haproxy', lookup: { kind: 'directory' } }));
    if (only.has('postern-imap-warm')) {
      add('postern-imap-warm', s.seconds, () => startPosternSystem(fx, { name: 'postern-imap-warm', lookup: imap(1000) }));
    }
    if (only.has('sweep')) {
      for (const threads of SWEEP_THREADS) {
        const name = `postern-local-t${threads}`;
        add(name, s.sweepSeconds, () => startPosternSystem(fx, { name, threads, lookup: { kind: 'directory' } }));
      }
    }
    for (const c of contenders) {
      c.running = await keep(c.start());
      // Warm-up: JIT, TLS session setup paths, and (for the IMAP remote) every user into the cache.
      const warm = await runLoad({ ...load(s, c.running.port, users), sessions: users.length * 2, durationMs: 10_000 });
      log(`${c.name}: pid ${c.running.pid}, port ${c.running.port}, warm-up ${warm.completed}/${warm.attempted} ok`);
      m.throughput[c.name] = [];
    }
    if (only.has('cold') && remote !== undefined) {
      // Warmed like the throughput systems, so round 1 does not pay the JIT (every AUTH here is a login).
      cold = await startColdSystems(fx, remote, s.concurrency, coldUsers.slice(0, s.concurrency * 5));
      log(`cold path: ${Object.entries(cold.smtp).map(([name, c]) => `${name} pid ${c.pid} port ${c.port}`).join(', ')}`);
    }
    const singleFlight = only.has('single-flight')
      ? await keep(startPosternSystem(fx, { name: 'postern-imap-sf', lookup: imap(1000) }))
      : undefined;

    for (let round = 0; round < s.rounds; round++) {
      const load1 = Number(loadavg()[0]?.toFixed(2));
      m.loadavg.push(load1);
      log(`round ${round + 1}/${s.rounds} (1-min load average ${load1})`);
      // Rotated each round so slow drift on the shared machine doesn't always hit the same system.
      for (let i = 0; i < contenders.length; i++) {
        const c = contenders[(i + round) % contenders.length] as Contender;
        const running = c.running as RunningSystem;
        // Unmeasured lead-in: after idling while the others ran, a system ramps up over its first
        // seconds of load (the per-second progress showed 320 → 525 sessions/s), which would
        // otherwise land in the measured window and favour whoever went first.
        await runLoad({ ...load(s, running.port, users), durationMs: s.leadInSeconds * 1000 });
        const result = await runLoad({ ...load(s, running.port, users), durationMs: c.seconds * 1000, progress: c.name });
        (m.throughput[c.name] as LoadResult[]).push(result);
        log(`  ${c.name}: ${result.sessionsPerSecond.toFixed(0)} sessions/s, AUTH p99 ${result.authLatencyMs.p99.toFixed(2)} ms${errorsText(result)}`);
      }
      if (cold !== undefined && remote !== undefined) {
        const o = { remote, systems: cold, users: coldUsers, count: s.coldCount, concurrency: s.concurrency, timeoutMs: SLOW_PHASE_MS };
        m.cold.samples.push(...(await measureColdRound(round, o, log)));
      }
      if (singleFlight !== undefined && remote !== undefined) {
        await measureSingleFlight(s, m, singleFlight, remote.dovecot, sfUsers[round] as Credential);
      }
      if (only.has('memory')) await measureMemory(s, m, fx);
    }
  } finally {
    await Promise.all(started.map((system) => system.stop()));
    await cold?.stop();
    await remote?.stop();
    await fx.close();
  }

  const { rows, targets } = summarize(m);
  const info = machine();
  const shared = `generator and servers share the same ${info.nproc} cores (${info.cpu}); node ${info.node}; 1-min load average at start ${info.loadavg1mAtStart}`;
  process.stdout.write(`\n${formatTable(rows, targets)}\n\nNote: ${shared}. Medians of ${s.rounds} round(s); ratios are medians of per-round ratios; load average per round ${m.loadavg.join(', ')}.\n`);
  const dir = join(ROOT, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const file = join(dir, smoke ? 'smoke.json' : 'latest.json');
  const json = { date: new Date().toISOString(), command: process.argv.slice(2), machine: info, runner: runner.mode, settings: s, rows, targets, rounds: m };
  await writeFile(file, `${JSON.stringify(json, null, 2)}\n`);
  log(`wrote ${file}`);
}

function load(s: Settings, port: number, users: Credential[]) {
  return { port, concurrency: s.concurrency, sessions: s.maxSessions, durationMs: s.seconds * 1000, starttls: true, users };
}

function errorsText(r: LoadResult): string {
  const entries = Object.entries(r.errors);
  return entries.length === 0 ? '' : `, errors ${JSON.stringify(r.errors)}`;
}

/** `s.singleFlight` sessions send the same never-seen credentials in one tick; Dovecot should see one login. */
async function measureSingleFlight(s: Settings, m: Measurements, postern: RunningSystem, dovecot: Remote['dovecot'], user: Credential): Promise<void> {
  const { held, errors } = await openSessions({ port: postern.port, count: s.singleFlight, concurrency: 20, starttls: true, authenticate: null, durationMs: SLOW_PHASE_MS });
  try {
    const before = await dovecot.logins();
    const replies = await authAtOnce(held, user);
    const logins = (await dovecot.logins()) - before;
    m.singleFlight.dovecotLogins.push(logins);
    m.singleFlight.replies.push({ ...replies, ...errors });
    log(`  single-flight: ${held.length} simultaneous AUTHs → ${logins} Dovecot login(s), replies ${JSON.stringify(replies)}`);
  } finally {
    await quitAll(held);
  }
}

/** RSS of a fresh server process before and while holding `memorySessions` idle authenticated sessions. */
async function measureMemory(s: Settings, m: Measurements, fx: Fixture): Promise<void> {
  const systems: [string, () => Promise<RunningSystem>][] = [
    ['baseline', () => startBaseline(fx, 'baseline-memory')],
    ['postern-local', () => startPosternSystem(fx, { name: 'postern-memory', lookup: { kind: 'directory' } })],
  ];
  for (const [name, start] of systems) {
    const system = await start();
    try {
      await runLoad({ ...load(s, system.port, fx.users), sessions: fx.users.length * 2, durationMs: 10_000 });
      await sleep(500);
      const idleKiB = system.rssKiB();
      const { held, errors } = await openSessions({ port: system.port, count: s.memorySessions, concurrency: 20, starttls: true, authenticate: fx.users, durationMs: SLOW_PHASE_MS });
      await sleep(1000);
      const sample: MemorySample = { idleKiB, heldKiB: system.rssKiB(), held: held.length };
      await quitAll(held);
      (m.memory[name] ??= []).push(sample);
      const failed = Object.keys(errors).length === 0 ? '' : `, errors ${JSON.stringify(errors)}`;
      log(`  memory ${name}: ${(sample.idleKiB / 1024).toFixed(1)} → ${(sample.heldKiB / 1024).toFixed(1)} MiB with ${sample.held} sessions${failed}`);
    } finally {
      await system.stop();
    }
  }
}

await main();
