// What the Piscina workers run, one named export per task (Piscina's `name` run option). Pure:
// the only state is the compiled rules each worker receives once as workerData. The task contract
// (names, inputs, outputs, result envelope) is src/pool/contract.ts.
import { performance } from 'node:perf_hooks';
import { threadId, workerData } from 'node:worker_threads';
import { verifySecret } from '../src/directory/memory/hash.js';
import { evaluate as evaluateRule, resolveAuthSettings } from '../src/config/rules.js';
import type { AuthRules, SessionVars, Vars } from '../src/config/types.js';
import type { HashTask, SaslTask, TaskResult, WorkerData } from '../src/pool/contract.js';
import { decodeSasl } from '../src/sasl/index.js';

const { rules: authRules, named } = workerData as WorkerData;

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

function rulesOrThrow(): AuthRules {
  if (authRules === null) throw new Error('this pool was started without rules');
  return authRules;
}

export const rules = (vars: SessionVars) => timed(() => resolveAuthSettings(rulesOrThrow(), vars));

export const mechanisms = (vars: SessionVars) => timed(() => evaluateRule(rulesOrThrow().mechanisms, vars));

export const sasl = ({ mechanism, lines }: SaslTask) => timed(() => decodeSasl(mechanism, lines));

export const hash = ({ secret, password }: HashTask) => timed(() => verifySecret(secret, password));

export const evaluate = ({ name, vars }: { name: string; vars: Vars }) =>
  timed(() => {
    const rule = Object.hasOwn(named, name) ? named[name] : undefined;
    if (rule === undefined) throw new Error('no such rule');
    return evaluateRule(rule, vars);
  });
