// Reloads: what one reports, and their order. A reload re-reads the config file and swaps in a
// generation built from it, with the listeners and the control socket moved to the new binds; any
// problem on the way (the file, a certificate, an address) refuses the whole of it and the running
// config stays. Config changes run one at a time.
import { formatKey } from '../config/key-path.js';
import { ConfigError, describeError, formatProblem } from '../errors.js';
import { BindFailure } from '../smtp/listeners.js';

/** A reload's answer (the `reload` control verb's, as plain data). */
export interface ReloadResult {
  /** true: the new config serves new sessions; false: it was refused and the running one stays. */
  ok: boolean;
  /** The generation new sessions get after it: the new one, or the one that stays. */
  generation: number;
  /** The file read. */
  source: string;
  /** Why it was refused, one line each, `FILE:LINE:COLUMN: key: message` where the file gives a position. */
  problems: string[];
  /** The new config's warnings (unknown keys, plaintext secrets…), as at start. */
  warnings: string[];
}

/** The lines a refused config change reports: each config problem, each address that could not be bound. */
export function problemsOf(error: unknown, source: string): string[] {
  if (error instanceof ConfigError) return error.problems.map(formatProblem);
  if (error instanceof BindFailure) {
    return error.failures.map((f) => formatProblem({ file: source, key: formatKey(['server', 'listener', f.listener, 'bind']), message: f.message }));
  }
  return [describeError(error)];
}

/** Runs jobs one after another, each once the one before has settled. */
export class Serial {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(job: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(job);
    this.#tail = result.catch(() => undefined);
    return result;
  }

  /** Resolves once every job run so far has settled. */
  settled(): Promise<void> {
    return this.#tail.then(() => undefined);
  }
}
