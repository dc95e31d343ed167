// Turns per-round measurements into medians, ratios and target verdicts: one table for the terminal,
// the same data as JSON.
import { cpus, loadavg, availableParallelism } from 'node:os';
import { COLD_RTTS_MS, type ColdSample } from './cold.js';
import type { LoadResult } from './load.js';
import { median } from './stats.js';

export interface MemorySample {
  idleKiB: number;
  heldKiB: number;
  held: number;
}

export interface Measurements {
  /** System name → one LoadResult per round. */
  throughput: Record<string, LoadResult[]>;
  cold: { samples: ColdSample[]; count: number };
  singleFlight: { dovecotLogins: number[]; replies: Record<string, number>[]; concurrent: number };
  memory: Record<string, MemorySample[]>;
  /** 1-minute load average when each round started: other processes on the machine show here. */
  loadavg: number[];
}

export interface Row {
  section: string;
  system: string;
  value: number;
  unit: string;
  /** Ratio to the row's reference (baseline, or postfix-imap on the cold path), when there is one. */
  ratio?: number;
  ratioTo?: string;
  harakaRatio?: number;
  p50?: number;
  p99?: number;
  max?: number;
  p99Ratio?: number;
  /** Cold path: median client turns per IMAP check, counted at the proxy. */
  turns?: number;
  /** Cold path: ratio to direct Dovecot logins at the same RTT. */
  directRatio?: number;
  errors?: number;
  note?: string;
}

export interface Target {
  what: string;
  goal: string;
  seen: string;
  met: boolean;
}

export function machine(): Record<string, string | number> {
  return {
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    loadavg1mAtStart: Number(loadavg()[0]?.toFixed(2)),
  };
}

const sum = (counts: Record<string, number>): number => Object.values(counts).reduce((a, b) => a + b, 0);

type RunsRow = Row & { runs?: LoadResult[] };

/** Systems compared with another Postern rather than with the baseline. */
const REFERENCE: Readonly<Record<string, { system: string; note: string }>> = {
  'postern-haproxy': { system: 'postern-local', note: 'one node behind HAProxy (mode tcp, send-proxy-v2), vs the same config direct' },
};

function throughputRow(section: string, system: string, runs: LoadResult[], baseline?: RunsRow, haraka?: RunsRow): RunsRow {
  const row: RunsRow = {
    runs,
    section,
    system,
    value: median(runs.map((r) => r.sessionsPerSecond)),
    unit: 'sessions/s',
    p50: median(runs.map((r) => r.authLatencyMs.p50)),
    p99: median(runs.map((r) => r.authLatencyMs.p99)),
    max: median(runs.map((r) => r.authLatencyMs.max)),
    errors: runs.reduce((n, r) => n + sum(r.errors), 0),
  };
  if (baseline !== undefined && system !== baseline.system) {
    row.ratio = pairedRatio(runs, baseline.runs, (r) => r.sessionsPerSecond);
    row.ratioTo = 'baseline';
    row.p99Ratio = pairedRatio(runs, baseline.runs, (r) => r.authLatencyMs.p99);
  }
  if (haraka !== undefined && system !== haraka.system && system !== 'baseline') {
    row.harakaRatio = pairedRatio(runs, haraka.runs, (r) => r.sessionsPerSecond);
  }
  return row;
}

/**
 * Median of the per-round ratios: the two were measured in the same round, minutes apart at most,
 * so load from other processes on the shared machine cancels out better than in a ratio of medians.
 */
function pairedRatio(runs: LoadResult[], reference: LoadResult[] | undefined, value: (r: LoadResult) => number): number {
  if (reference === undefined || reference.length !== runs.length) return NaN;
  return median(runs.map((r, i) => value(r) / value(reference[i] as LoadResult)));
}

export function summarize(m: Measurements): { rows: Row[]; targets: Target[] } {
  const rows: RunsRow[] = [];
  const runsOf = (name: string): LoadResult[] | undefined => {
    const runs = m.throughput[name];
    return runs !== undefined && runs.length > 0 ? runs : undefined;
  };
  const base = runsOf('baseline');
  const baseline = base === undefined ? undefined : throughputRow('throughput', 'baseline', base);
  const har = runsOf('haraka');
  const haraka = har === undefined ? undefined : throughputRow('throughput', 'haraka', har, baseline);
  if (baseline !== undefined) rows.push(baseline);
  if (haraka !== undefined) rows.push(haraka);
  for (const [name, runs] of Object.entries(m.throughput)) {
    if (name === 'baseline' || name === 'haraka' || runs.length === 0) continue;
    const reference = REFERENCE[name];
    const against = reference === undefined ? undefined : runsOf(reference.system);
    if (reference !== undefined && against !== undefined) {
      rows.push({ ...throughputRow('balancer', name, runs, throughputRow('balancer', reference.system, against)), ratioTo: reference.system, note: reference.note });
      continue;
    }
    rows.push(throughputRow(name.includes('-t') ? 'workers' : 'throughput', name, runs, baseline, haraka));
  }

  rows.push(...coldRows(m.cold));
  if (m.singleFlight.dovecotLogins.length > 0) {
    rows.push({
      section: 'single-flight',
      system: 'postern-imap',
      value: median(m.singleFlight.dovecotLogins),
      unit: 'Dovecot logins',
      note: `${m.singleFlight.concurrent} identical cold AUTHs at once; replies ${JSON.stringify(m.singleFlight.replies.at(-1))}`,
    });
  }
  const memBase = m.memory.baseline;
  const memBaseHeld = memBase === undefined ? NaN : median(memBase.map((s) => s.heldKiB));
  for (const [name, samples] of Object.entries(m.memory)) {
    const held = median(samples.map((s) => s.heldKiB));
    const idle = median(samples.map((s) => s.idleKiB));
    const n = median(samples.map((s) => s.held));
    rows.push({
      section: 'memory',
      system: name,
      value: held / 1024,
      unit: 'MiB RSS',
      ...(name !== 'baseline' && Number.isFinite(memBaseHeld) ? { ratio: held / memBaseHeld, ratioTo: 'baseline' } : {}),
      note: `${n} idle authenticated sessions; ${(idle / 1024).toFixed(1)} MiB before, ${(((held - idle) / Math.max(1, n)) * 1.024).toFixed(1)} kB/session`,
    });
  }
  const plain = rows.map(({ runs: _runs, ...row }: RunsRow) => row);
  return { rows: plain, targets: targets(plain) };
}

/** Median over rounds of `value(sample) / value(reference sample of the same round and RTT)`. */
function coldRatio(samples: ColdSample[], of: ColdSample[], reference: string): number {
  return median(of.map((x) => x.perSecond / (samples.find((r) => r.round === x.round && r.rttMs === x.rttMs && r.system === reference)?.perSecond ?? NaN)));
}

/** One row per RTT and system: medians over rounds; ratios to Postfix and to direct logins, paired by round. */
function coldRows(cold: Measurements['cold']): Row[] {
  const rows: Row[] = [];
  for (const rtt of COLD_RTTS_MS) {
    const atRtt = cold.samples.filter((x) => x.rttMs === rtt);
    for (const system of [...new Set(atRtt.map((x) => x.system))]) {
      const of = atRtt.filter((x) => x.system === system);
      const cpu = median(of.flatMap((x) => (x.mainThreadUs === undefined ? [] : [x.mainThreadUs])));
      const direct = system === 'direct-dovecot' ? NaN : coldRatio(atRtt, of, 'direct-dovecot');
      rows.push({
        section: `cold ${rtt} ms`,
        system,
        value: median(of.map((x) => x.perSecond)),
        unit: system === 'direct-dovecot' ? 'logins/s' : 'sessions/s',
        ...(system === 'postfix-imap' ? {} : { ratio: coldRatio(atRtt, of, 'postfix-imap'), ratioTo: 'postfix-imap' }),
        ...(Number.isFinite(direct) ? { directRatio: direct } : {}),
        p50: median(of.map((x) => x.p50)),
        p99: median(of.map((x) => x.p99)),
        turns: median(of.map((x) => x.turns)),
        errors: of.reduce((n, x) => n + x.errors, 0),
        note: [
          Number.isFinite(direct) ? `${direct.toFixed(2)}× direct-dovecot` : '',
          Number.isFinite(cpu) ? `main thread ${(cpu / 1000).toFixed(2)} ms/session` : '',
          `${cold.count} AUTHs`,
        ]
          .filter(Boolean)
          .join('; '),
      });
    }
  }
  return rows;
}

function targets(rows: Row[]): Target[] {
  const out: Target[] = [];
  const find = (section: string, system: string): Row | undefined => rows.find((r) => r.section === section && r.system === system);
  const x = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '–' : `${v.toFixed(2)}×`);
  for (const name of ['postern-local', 'postern-imap-warm']) {
    const row = find('throughput', name);
    if (row === undefined) continue;
    if (row.ratio !== undefined) out.push({ what: `${name} sessions/s`, goal: '≥ 0.9× baseline', seen: x(row.ratio), met: row.ratio >= 0.9 });
    if (row.harakaRatio !== undefined) out.push({ what: `${name} sessions/s`, goal: '≥ 1.5× Haraka', seen: x(row.harakaRatio), met: row.harakaRatio >= 1.5 });
    if (row.p99Ratio !== undefined) out.push({ what: `${name} AUTH p99`, goal: '≤ 1.2× baseline', seen: x(row.p99Ratio), met: row.p99Ratio <= 1.2 });
  }
  for (const rtt of COLD_RTTS_MS) {
    const cold = find(`cold ${rtt} ms`, 'postern');
    if (cold === undefined) continue;
    const goal = rtt === 0 ? 1.0 : 1.5;
    if (cold.ratio !== undefined) out.push({ what: `cold AUTH sessions/s at ${rtt} ms RTT`, goal: `≥ ${goal.toFixed(1)}× postfix-imap`, seen: x(cold.ratio), met: cold.ratio >= goal });
    if (cold.directRatio !== undefined) {
      out.push({ what: `cold AUTH sessions/s at ${rtt} ms RTT`, goal: '≥ 0.95× direct Dovecot logins/s', seen: x(cold.directRatio), met: cold.directRatio >= 0.95 });
    }
  }
  const sf = find('single-flight', 'postern-imap');
  if (sf !== undefined) out.push({ what: 'single-flight', goal: '100 AUTHs → 1 login', seen: `${sf.value} login(s)`, met: sf.value === 1 });
  const mem = rows.find((r) => r.section === 'memory' && r.system !== 'baseline');
  if (mem?.ratio !== undefined) out.push({ what: `${mem.system} RSS`, goal: '≤ 1.5× baseline', seen: x(mem.ratio), met: mem.ratio <= 1.5 });
  return out;
}

function fmt(v: number | undefined, digits = 0): string {
  return v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits);
}

export function formatTable(rows: Row[], targetsSeen: Target[]): string {
  const header = ['section', 'system', 'median', 'unit', 'ratio', 'vs Haraka', 'AUTH p50 ms', 'p99 ms', 'max ms', 'p99 ratio', 'turns', 'errors', 'note'];
  const body = rows.map((r) => [
    r.section,
    r.system,
    fmt(r.value, r.unit === 'MiB RSS' ? 1 : r.unit === 'Dovecot logins' ? 0 : 0),
    r.unit,
    r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}× ${r.ratioTo}`,
    r.harakaRatio === undefined ? '' : `${r.harakaRatio.toFixed(2)}×`,
    fmt(r.p50, 2),
    fmt(r.p99, 2),
    fmt(r.max, 1),
    r.p99Ratio === undefined ? '' : `${r.p99Ratio.toFixed(2)}×`,
    r.turns === undefined ? '' : fmt(r.turns),
    r.errors === undefined ? '' : String(r.errors),
    r.note ?? '',
  ]);
  const table = [header, ...body];
  const widths = header.map((_, i) => Math.max(...table.map((line) => (line[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  const out = [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)];
  if (targetsSeen.length > 0) {
    out.push('', '| target | goal | seen | met |', '|---|---|---|---|');
    for (const t of targetsSeen) out.push(`| ${t.what} | ${t.goal} | ${t.seen} | ${t.met ? 'yes' : 'NO'} |`);
  }
  return out.join('\n');
}
