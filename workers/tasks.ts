// What the Piscina workers run, one named export per task (Piscina's `name` run option). Pure:
// the only state is the compiled rules each worker receives once as workerData. Results are tagged
// plain objects (structured clone keeps nothing else), with the thread and time spent, for metrics.
import { performance } from 'node:perf_hooks';
import { threadId, workerData } from 'node:worker_threads';
import { verifySecret } from '../src/auth/hash.js';
import { evaluate, resolveAuthSettings } from '../src/config/rules.js';
import type { AuthRules, SessionAuthSettings, SessionVars } from '../src/config/types.js';
import { decodeSasl } from '../src/sasl/index.js';
import type { Mechanism, SaslStep } from '../src/sasl/types.js';

export type TaskResult<T> = { threadId: number; seconds: number } & ({ ok: true; value: T } | { ok: false; reason: string });

export interface SaslTask {
  mechanism: Mechanism;
  lines: string[];
}

export interface HashTask {
  secret: string;
  password: string;
}

/** The task names and their input and output, for the main thread's typed `run`. */
export interface Tasks {
  rules: { input: SessionVars; output: SessionAuthSettings };
  mechanisms: { input: SessionVars; output: Mechanism[] };
  sasl: { input: SaslTask; output: SaslStep };
  hash: { input: HashTask; output: boolean };
}

const authRules = workerData as AuthRules;

async function timed<T>(work: () => T | Promise<T>): Promise<TaskResult<T>> {
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  try {
    const value = await work();
    return { ok: true, value, threadId, seconds: seconds() };
  } catch (error) {
    // Library messages here are fixed phrases ("Invalid hash"); inputs are never echoed.
    return { ok: false, reason: error instanceof Error ? error.message : 'task failed', threadId, seconds: seconds() };
  }
}

export const rules = (vars: SessionVars) => timed(() => resolveAuthSettings(authRules, vars));

export const mechanisms = (vars: SessionVars) => timed(() => evaluate(authRules.mechanisms, vars));

export const sasl = ({ mechanism, lines }: SaslTask) => timed(() => decodeSasl(mechanism, lines));

export const hash = ({ secret, password }: HashTask) => timed(() => verifySecret(secret, password));
