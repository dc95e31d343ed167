// A real Prometheus scraping Postern every second, its query API, and promtool's linter.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exited, reapOnExit } from './children.js';
import { poll } from './wait.js';

const HOST = '127.0.0.1';

export interface PromSample {
  metric: Record<string, string>;
  /** [unix seconds, value as text] — Prometheus' own shape. */
  value: [number, string];
}

export interface RunningPrometheus {
  /** e.g. "http://127.0.0.1:40123" */
  url: string;
  /** The `job` label every scraped series carries. */
  job: string;
  /** Runs an instant query; rejects with Prometheus' error text if the expression is invalid. */
  query(expr: string): Promise<PromSample[]>;
  /** Polls `query(expr)` until `done(result)` or `timeoutMs`; resolves with the last result either way. */
  poll(expr: string, done: (result: PromSample[]) => boolean, timeoutMs?: number): Promise<PromSample[]>;
  /** Stops Prometheus (SIGTERM) and removes its storage. Idempotent. */
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  /** "host:port" targets serving /metrics. */
  targets: string[];
  job?: string;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Waits for /-/ready; false if Prometheus exited first (a port clash) or took longer than 15 s. */
async function ready(child: ChildProcess, url: string): Promise<boolean> {
  let ok = false;
  const gone = (): boolean => child.exitCode !== null || child.signalCode !== null;
  await poll(async () => gone() || (ok = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false)), { timeout: 15_000, every: 100 });
  return ok;
}

export async function startPrometheus(opts: PrometheusOptions): Promise<RunningPrometheus> {
  const job = opts.job ?? 'postern';
  const dir = await mkdtemp(join(tmpdir(), 'postern-prometheus-'));
  const config = join(dir, 'prometheus.yml');
  await writeFile(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      `  - job_name: ${JSON.stringify(job)}`,
      '    static_configs:',
      `      - targets: ${JSON.stringify(opts.targets)}`,
      '',
    ].join('\n'),
  );

  let stderr = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const url = `http://${HOST}:${await freePort()}`;
    const child = spawn(
      'prometheus',
      [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=${url.slice('http://'.length)}`],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    reapOnExit(child);
    stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    if (!(await ready(child, url))) {
      child.kill('SIGKILL');
      await exited(child);
      continue;
    }
    return handle(child, url, job, dir);
  }
  await rm(dir, { recursive: true, force: true });
  throw new Error(`prometheus did not start:\n${stderr}`);
}

function handle(child: ChildProcess, url: string, job: string, dir: string): RunningPrometheus {
  let stopping: Promise<void> | undefined;
  const query = async (expr: string): Promise<PromSample[]> => {
    const response = await fetch(`${url}/api/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: expr }),
    });
    const body = (await response.json()) as
      | { status: 'success'; data: { resultType: string; result: PromSample[] } }
      | { status: 'error'; errorType: string; error: string };
    if (body.status !== 'success') throw new Error(`${body.errorType}: ${body.error} in ${expr}`);
    if (body.data.resultType !== 'vector') throw new Error(`expected a vector, got ${body.data.resultType} for ${expr}`);
    return body.data.result;
  };
  return {
    url,
    job,
    query,
    async poll(expr, done, timeoutMs = 15_000) {
      let result: PromSample[] = [];
      await poll(async () => done((result = await query(expr))), { timeout: timeoutMs, every: 250 });
      return result;
    },
    stop() {
      stopping ??= (async () => {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited(child);
        clearTimeout(timer);
        await rm(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

/** `promtool check metrics` on an exposition text: 0 = clean, 3 = lint problems (on stderr), 1 = parse error. */
export function promtoolCheck(text: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stderr }));
    child.stdin.end(text);
  });
}

export interface ExpositionSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the samples of a text exposition (comments skipped; label escapes undone). */
export function parseExposition(text: string): ExpositionSample[] {
  const samples: ExpositionSample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null || line.startsWith('#')) continue;
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key!] = raw!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** The value of the one sample named `name` whose labels include `labels`; throws if none or several. */
export function sampleValue(samples: ExpositionSample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length !== 1) throw new Error(`${found.length} samples for ${name}${JSON.stringify(labels)}`);
  return found[0]!.value;
}
