// The cold path side by side: every AUTH a login at the same remote Dovecot (bench/remote.ts), at
// each round-trip time the proxy adds, by
//   postern            Postern, cache off, STARTTLS to the remote (the seed's set-up)
//   postern-implicit   the same over implicit TLS
//   postfix-imap       Postfix smtpd + Dovecot SASL with `passdb imap`, STARTTLS to the remote
//   direct-dovecot     the same logins made straight to the remote by stock imapflow clients
// The three SMTP systems get the same load (C clients: STARTTLS, AUTH PLAIN, QUIT).
import { directLogins } from './direct-imap.js';
import type { Fixture } from './fixture.js';
import { runLoad, type Credential } from './load.js';
import type { RunningSystem } from './process.js';
import type { Remote } from './remote.js';
import { median } from './stats.js';
import { startPostfixImap } from './systems/postfix.js';
import { startPosternSystem } from './systems/postern.js';
import { clientTurns, type LatencyProxy } from '../test/helpers/latency-proxy.js';

export const COLD_RTTS_MS = [0, 10, 40];
export const COLD_SYSTEMS = ['postern', 'postern-implicit', 'postfix-imap', 'direct-dovecot'] as const;
export type ColdSystem = (typeof COLD_SYSTEMS)[number];

/** One system at one RTT in one round. */
export interface ColdSample {
  round: number;
  rttMs: number;
  system: ColdSystem;
  perSecond: number;
  /** AUTH latency (for direct-dovecot: the login), ms. */
  p50: number;
  p99: number;
  /** Median client turns per IMAP connection, counted at the proxy. */
  turns: number;
  errors: number;
  /** Postern: main-thread CPU per session, µs (from /proc, not a profiler). */
  mainThreadUs?: number;
}

export interface ColdSystems {
  smtp: Partial<Record<ColdSystem, RunningSystem>>;
  stop(): Promise<void>;
}

/** The SMTP systems, each warmed with `warmUsers` logins (JIT, process pools) before any measurement. */
export async function startColdSystems(fx: Fixture, remote: Remote, concurrency: number, warmUsers: Credential[]): Promise<ColdSystems> {
  const smtp: ColdSystems['smtp'] = {};
  const stop = async (): Promise<void> => {
    await Promise.all(Object.values(smtp).map((s) => s.stop()));
  };
  try {
    const imap = (implicit: boolean) =>
      ({ kind: 'imap', host: remote.host, port: (implicit ? remote.implicit : remote.starttls).port, cacheEntries: 0, concurrency, implicit }) as const;
    smtp.postern = await startPosternSystem(fx, { name: 'postern-imap-cold', lookup: imap(false) });
    smtp['postern-implicit'] = await startPosternSystem(fx, { name: 'postern-imap-cold-implicit', lookup: imap(true) });
    smtp['postfix-imap'] = await startPostfixImap(fx, { name: 'postfix-imap', imap: { host: remote.host, port: remote.starttls.port } });
    for (const system of Object.values(smtp)) {
      await runLoad({ port: system.port, concurrency, sessions: warmUsers.length, durationMs: 60_000, starttls: true, users: warmUsers });
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { smtp, stop };
}

/** Median client turns of the proxy's connections from `from` on. */
function turnsSince(proxy: LatencyProxy, from: number): number {
  return median(proxy.traces().slice(from).map(clientTurns));
}

/**
 * One round: every RTT, every system (order rotated by round), `count` logins each. Returns the
 * samples; `log` gets a line per measurement.
 */
export async function measureColdRound(
  round: number,
  o: { remote: Remote; systems: ColdSystems; users: Credential[]; count: number; concurrency: number; timeoutMs: number },
  log: (line: string) => void,
): Promise<ColdSample[]> {
  const samples: ColdSample[] = [];
  for (const rttMs of COLD_RTTS_MS) {
    o.remote.setRtt(rttMs);
    for (let i = 0; i < COLD_SYSTEMS.length; i++) {
      const system = COLD_SYSTEMS[(i + round) % COLD_SYSTEMS.length] as ColdSystem;
      const proxy = system === 'postern-implicit' ? o.remote.implicit : o.remote.starttls;
      const from = proxy.traces().length;
      let sample: ColdSample;
      if (system === 'direct-dovecot') {
        const r = await directLogins({ host: o.remote.host, port: o.remote.starttls.port, users: o.users, count: o.count, concurrency: o.concurrency, durationMs: o.timeoutMs });
        sample = { round, rttMs, system, perSecond: r.loginsPerSecond, p50: r.loginLatencyMs.p50, p99: r.loginLatencyMs.p99, turns: turnsSince(proxy, from), errors: r.failed };
      } else {
        const running = o.systems.smtp[system] as RunningSystem;
        const cpu = running.mainThreadCpuNs();
        const r = await runLoad({ port: running.port, concurrency: o.concurrency, sessions: o.count, durationMs: o.timeoutMs, starttls: true, users: o.users, progress: `${system} @${rttMs} ms` });
        sample = {
          round,
          rttMs,
          system,
          perSecond: r.sessionsPerSecond,
          p50: r.authLatencyMs.p50,
          p99: r.authLatencyMs.p99,
          turns: turnsSince(proxy, from),
          errors: Object.values(r.errors).reduce((a, b) => a + b, 0),
          ...(system === 'postfix-imap' ? {} : { mainThreadUs: (running.mainThreadCpuNs() - cpu) / 1000 / Math.max(1, r.completed) }),
        };
      }
      samples.push(sample);
      const cpuText = sample.mainThreadUs === undefined ? '' : `, main thread ${sample.mainThreadUs.toFixed(0)} µs/session`;
      log(`  ${system} @${rttMs} ms: ${sample.perSecond.toFixed(1)}/s, p50 ${sample.p50.toFixed(0)} ms, ${sample.turns} turns${cpuText}${sample.errors ? `, ${sample.errors} errors` : ''}`);
    }
  }
  return samples;
}
