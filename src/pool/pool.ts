// The main thread's handle on the Piscina worker pool: every AUTH-stage computation (rules, SASL
// decoding, password hashes) runs on a worker, so a slow hash never stalls other sessions.
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { AuthRules, NamedRules, SessionAuthSettings, SessionVars, Vars } from '../config/types.js';
import { TempFailure } from '../errors.js';
import type { EventBus, PoolRefusal, TaskKind } from '../events.js';
import type { Mechanism, SaslStep } from '../sasl/types.js';
import type { TaskResult, Tasks, WorkerData } from './contract.js';

// Built: dist/src/pool/pool.js → dist/workers/tasks.js. From source (src/pool/pool.ts under tsx),
// workers need help loading TypeScript: see workers/tasks-from-source.mjs.
const TASKS_FILE = fileURLToPath(
  new URL(extname(fileURLToPath(import.meta.url)) === '.ts' ? '../../workers/tasks-from-source.mjs' : '../../workers/tasks.js', import.meta.url),
);

export interface PoolOptions {
  threads: number;
  maxQueue: number;
  /** The session rules the workers evaluate; omitted for a pool that only hashes. */
  rules?: AuthRules;
  /** The config's other rules, for `evaluate`. */
  named?: NamedRules;
  events: EventBus;
}

export interface PoolStats {
  threads: number;
  queueSize: number;
  maxQueue: number;
  /** Tasks that ran on a worker (whatever their outcome). */
  completed: number;
  /** Summed run time of those tasks: utilization = Δbusy / (Δt × threads). */
  busySeconds: number;
}

export class WorkerPool {
  readonly #piscina: Piscina;
  readonly #events: EventBus;
  readonly #maxQueue: number;
  #completed = 0;
  #busySeconds = 0;
  #closing: Promise<void> | undefined;

  constructor(options: PoolOptions) {
    this.#events = options.events;
    this.#maxQueue = options.maxQueue;
    const workerData: WorkerData = { rules: options.rules ?? null, named: options.named ?? {} };
    // min = max: idle workers cost little, a cold start costs a session latency.
    this.#piscina = new Piscina({
      filename: TASKS_FILE,
      minThreads: options.threads,
      maxThreads: options.threads,
      maxQueue: options.maxQueue,
      workerData,
      // Our tasks time themselves (pool.task events); Piscina's own histograms would be a second,
      // unread set of clock reads and records per task.
      recordTiming: false,
    });
    // A worker dying between tasks is replaced by Piscina; without a listener the 'error' would crash us.
    this.#piscina.on('error', () => {});
  }

  resolveSession(vars: SessionVars): Promise<SessionAuthSettings> {
    return this.#run('rules', 'rules', vars);
  }

  mechanisms(vars: SessionVars): Promise<Mechanism[]> {
    return this.#run('mechanisms', 'rules', vars);
  }

  decodeSasl(mechanism: Mechanism, lines: string[]): Promise<SaslStep> {
    return this.#run('sasl', 'sasl', { mechanism, lines });
  }

  verifySecret(secret: string, password: string): Promise<boolean> {
    return this.#run('hash', 'hash', { secret, password });
  }

  /** Rule `name` of the config's named rules; src/pool/remembered.ts remembers the answers. */
  evaluate(name: string, vars: Vars): Promise<unknown> {
    return this.#run('evaluate', 'rules', { name, vars });
  }

  stats(): PoolStats {
    return {
      threads: this.#piscina.threads.length,
      queueSize: this.#piscina.queueSize,
      maxQueue: this.#maxQueue,
      completed: this.#completed,
      busySeconds: this.#busySeconds,
    };
  }

  /** Refuses new tasks and resolves once the tasks already given have finished and the threads are gone. */
  close(): Promise<void> {
    this.#closing ??= this.#piscina.close();
    return this.#closing;
  }

  /** Runs a task; any failure, in the pool or in the task, is a TempFailure (the session answers 454). */
  async #run<N extends keyof Tasks>(name: N, kind: TaskKind, input: Tasks[N]['input']): Promise<Tasks[N]['output']> {
    // Piscina still accepts tasks after close(): ours refuses them.
    if (this.#closing !== undefined) this.#refuse(kind, 'closed');
    let result: TaskResult<Tasks[N]['output']>;
    try {
      result = await this.#piscina.run(input, { name });
    } catch (error) {
      // Piscina's error texts are the only way to tell its faults apart.
      const full = error instanceof Error && /queue is at limit|no task queue available/i.test(error.message);
      this.#refuse(kind, full ? 'queue_full' : 'worker_failed', error);
    }
    this.#completed += 1;
    this.#busySeconds += result.seconds;
    this.#events.emit({ type: 'pool.task', kind, seconds: result.seconds, ok: result.ok, threadId: result.threadId });
    if (!result.ok) throw new TempFailure(`${name} task failed: ${result.reason}`);
    return result.value;
  }

  /** A task that never ran to an answer on a worker. */
  #refuse(kind: TaskKind, reason: PoolRefusal, cause?: unknown): never {
    this.#events.emit({ type: 'pool.refused', kind, reason });
    throw new TempFailure(`worker pool: ${reason.replace('_', ' ')}`, cause);
  }
}
