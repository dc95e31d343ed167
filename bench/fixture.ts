// What every system under test shares: a scratch directory, one certificate, one user list, and
// one way of running TypeScript entry points (compiled, or through tsx when the build fails — then
// the baseline runs through tsx too, so both pay the same loader).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { makeCertificate, type TestCertificate } from '../test/helpers/certs.js';
import type { Credential } from './load.js';

const run = promisify(execFile);

export const ROOT = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
/** Kept between runs: the transpiled baseline and Haraka's dhparams. */
export const CACHE_DIR = join(ROOT, 'node_modules', '.cache', 'postern-bench');

export interface Runner {
  mode: 'compiled' | 'tsx';
  /** Node arguments that run Postern's CLI. */
  postern: string[];
  /** Node arguments that run bench/baseline-server.ts. */
  baseline: string[];
  /** Why the compiled mode was not used. */
  buildError?: string;
}

export interface Fixture {
  dir: string;
  cert: TestCertificate;
  users: Credential[];
  runner: Runner;
  close(): Promise<void>;
}

/**
 * `npm run build` (unless `build` is false and dist/ is there), then the baseline transpiled next
 * to it; on a failed build, tsx for both.
 */
export async function prepareRunner(build: boolean): Promise<Runner> {
  // Absolute, because the servers run with their scratch directory as the working directory.
  const tsxLoader = import.meta.resolve('tsx');
  const tsx: Runner = {
    mode: 'tsx',
    postern: ['--import', tsxLoader, join(ROOT, 'src', 'cli', 'main.ts')],
    baseline: ['--import', tsxLoader, join(ROOT, 'bench', 'baseline-server.ts')],
  };
  const main = join(ROOT, 'dist', 'src', 'cli', 'main.js');
  if (build) {
    try {
      await run('npm', ['run', 'build'], { cwd: ROOT });
    } catch (err) {
      const output = (err as { stdout?: string }).stdout ?? String(err);
      return { ...tsx, buildError: output.trim().split('\n').slice(-3).join(' | ') };
    }
  } else if (!existsSync(main)) {
    return { ...tsx, buildError: 'no dist/ and --no-build' };
  }
  // Under node_modules/ so that its imports resolve from the project's node_modules.
  await mkdir(CACHE_DIR, { recursive: true });
  const source = await readFile(join(ROOT, 'bench', 'baseline-server.ts'), 'utf8');
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  });
  const baseline = join(CACHE_DIR, 'baseline-server.mjs');
  await writeFile(baseline, outputText);
  return { mode: 'compiled', postern: [main], baseline: [baseline] };
}

/** `count` users bench-0001… with distinct passwords. */
export function benchUsers(count: number, prefix = 'bench'): Credential[] {
  return Array.from({ length: count }, (_, i) => {
    const n = String(i + 1).padStart(4, '0');
    return { user: `${prefix}-${n}`, password: `pw-${n}-${prefix}` };
  });
}

export async function createFixture(runner: Runner, users: Credential[]): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'postern-bench-'));
  const cert = await makeCertificate(dir);
  return { dir, cert, users, runner, close: () => rm(dir, { recursive: true, force: true }) };
}
