// The worker task contract: the task names with their input and output, the result envelope, and what
// each worker receives at start. Types only, so the main thread (src/pool/pool.ts) and the workers
// (workers/tasks.ts) share it without either importing the other's code.
import type { AuthRules, NamedRules, SessionAuthSettings, SessionVars, Vars } from '../config/types.js';
import type { Mechanism, SaslStep } from '../sasl/types.js';

/** A task's answer: tagged plain data (structured clone keeps nothing else), with the thread and time spent. */
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
  /** One of the config's named rules (NamedRules) for the variables known so far. */
  evaluate: { input: { name: string; vars: Vars }; output: unknown };
}

/** Sent once to every worker. Without rules (a pool for hashing only), rule tasks fail and the rest work. */
export interface WorkerData {
  rules: AuthRules | null;
  named: NamedRules;
}
