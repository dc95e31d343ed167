// Helpers for config and rule tests: catch ConfigError, locate text to check reported positions.
// (The listeners their TOML needs are in fixtures.ts.)
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import type { SessionVars } from '../../src/config/types.js';
import { ConfigError, type ConfigProblem } from '../../src/errors.js';

export function problemsOf(toml: string): ConfigProblem[] {
  try {
    parseConfig(toml, 'test.toml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected the config to be rejected');
}

/** 1-based line and column of the `nth` occurrence of `needle` in `text`, found by plain searching. */
export function where(text: string, needle: string, nth = 0): { line: number; column: number } {
  let index = -1;
  for (let n = 0; n <= nth; n++) {
    index = text.indexOf(needle, index + 1);
    assert.ok(index >= 0, `"${needle}" (#${nth}) not in the TOML`);
  }
  const before = text.slice(0, index);
  return { line: before.split('\n').length, column: index - before.lastIndexOf('\n') };
}

/** Asserts the config is rejected with a problem on `key` whose message matches and which points at `needle`. */
export function assertProblem(toml: string, key: string, message: RegExp, needle: string, nth = 0): ConfigProblem {
  const problems = problemsOf(toml);
  const problem = problems.find((p) => p.key === key);
  assert.ok(problem, `no problem for ${key}; got:\n${problems.map((p) => `${p.key}: ${p.message}`).join('\n')}`);
  assert.match(problem.message, message);
  assert.equal(problem.file, 'test.toml');
  assert.deepEqual({ line: problem.line, column: problem.column }, where(toml, needle, nth));
  return problem;
}

export function sessionVars(over: Partial<SessionVars> = {}): SessionVars {
  return { listener: 'submission', 'remote-ip': '192.0.2.10', 'local-ip': '127.0.0.1', 'helo-domain': 'client.example', ...over };
}
