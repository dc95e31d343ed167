// Every if-block mistake Stalwart rejects is rejected here too, at the line:column of the offending text.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { assertProblem, problemsOf } from './helpers/config.js';
import { LISTENERS } from './helpers/fixtures.js';

/** `[session.auth] <key> = <block>` first (so positions are easy to read), then the listeners. */
const auth = (key: string, block: string): string => `[session.auth]\n${key} = ${block}\n${LISTENERS}`;

test('missing then', () => {
  const toml = auth('require', `[ { if = "listener", ne = "smtp" },\n            { else = false } ]`);
  const p = assertProblem(toml, 'session.auth.require.0', /missing 'then' in 'if' condition 1/, '{ if');
  assert.deepEqual([p.line, p.column], [2, 13]);
});

test('missing else', () => {
  const toml = auth('require', `[ { if = "listener", ne = "smtp", then = true } ]`);
  assertProblem(toml, 'session.auth.require', /missing 'else'/, 'require =');
});

test('else before if', () => {
  const toml = auth('require', `[ { else = false },\n            { if = "listener", ne = "smtp", then = true } ]`);
  assertProblem(toml, 'session.auth.require.0', /found 'else' before 'if'/, '{ else');
});

test('multiple else', () => {
  const toml = auth('require', `[ { if = "listener", ne = "smtp", then = true },\n  { else = false },\n  { else = true } ]`);
  assertProblem(toml, 'session.auth.require.2', /multiple 'else'/, '{ else', 1);
});

test('then in else', () => {
  const toml = auth('require', `[ { if = "listener", ne = "smtp", then = true },\n  { else = false, then = true } ]`);
  assertProblem(toml, 'session.auth.require.1.then', /found 'then' in 'else' block/, 'then', 1);
});

test("an 'if' after the 'else'", () => {
  const toml = auth('require', `[ { if = "listener", ne = "smtp", then = true },\n  { else = false },\n  { if = "listener", eq = "smtp", then = false } ]`);
  assertProblem(toml, 'session.auth.require.2', /'else' element must come last/, '{ if', 1);
});

test("'else' must be alone, and a 'then' needs an 'if'", () => {
  const together = auth('require', `[ { if = "listener", ne = "smtp", then = true, else = false } ]`);
  assertProblem(together, 'session.auth.require.0.if', /'else' must be alone in its element, found "if"/, 'if =');
  const orphan = auth('require', `[ { if = "listener", ne = "smtp", then = true },\n  { then = false },\n  { else = false } ]`);
  assertProblem(orphan, 'session.auth.require.1', /found 'then' without 'if'/, '{ then');
});

test('unknown operation', () => {
  const toml = auth('require', `[ { if = "listener", is = "smtp", then = true }, { else = false } ]`);
  assertProblem(toml, 'session.auth.require.0.is', /unknown operation "is"/, 'is =');
});

test('names that exist on every JS object are still unknown', () => {
  assertProblem(auth('require', `[ { if = "listener", toString = "smtp", then = true }, { else = false } ]`), 'session.auth.require.0.toString', /unknown operation "toString"/, 'toString');
  assertProblem(auth('lookup', `"directory/hasOwnProperty"`), 'session.auth.lookup', /no \[directory\."hasOwnProperty"\] is declared/, 'lookup');
  const [problem] = problemsOf(`[remote."__proto__"]\naddress = "x"\n${LISTENERS}`);
  assert.equal(problem?.line, 1, 'smol-toml refuses the key, with its position');
});

test('unknown variable (Stalwart has more; only the AUTH-stage ones are available here)', () => {
  for (const variable of ['sender', 'rcpt', 'authenticated-as', 'nonsense']) {
    const toml = auth('lookup', `[ { if = "${variable}", eq = "x", then = false },\n  { else = false } ]`);
    assertProblem(toml, 'session.auth.lookup.0.if', new RegExp(`unknown variable "${variable}"`), 'if =');
  }
});

test('helo-domain is accepted (Stalwart 0.1 declared it but its parser forgot it)', () => {
  const config = parseConfig(auth('require', `[ { if = "helo-domain", eq = "x", then = true }, { else = false } ]`), 'test.toml');
  assert.equal(config.auth.require.branches.length, 1);
});

test('more than one operation in a condition', () => {
  const toml = auth('require', `[ { if = "listener", eq = "smtp", ne = "submission", then = true }, { else = false } ]`);
  assertProblem(toml, 'session.auth.require.0.ne', /more than one operation in a condition: "eq", "ne"/, 'ne =');
});

test('a condition without an operation', () => {
  const toml = auth('require', `[ { if = "listener", then = true }, { else = false } ]`);
  assertProblem(toml, 'session.auth.require.0', /missing operation/, '{ if');
});

test('invalid duration, as a plain value and inside an if-block', () => {
  assertProblem(`[session.auth.errors]\nwait = "0s"\n${LISTENERS}`, 'session.auth.errors.wait', /invalid duration "0s"/, 'wait');
  const toml = `[session.auth.errors]\nwait = [ { if = "listener", eq = "smtp", then = "soon" },\n         { else = "5s" } ]\n${LISTENERS}`;
  assertProblem(toml, 'session.auth.errors.wait.0.then', /invalid duration "soon"/, 'then =');
});

test('unknown mechanism, in a plain list and in a then', () => {
  assertProblem(auth('mechanisms', `["plain", "cram-md5"]`), 'session.auth.mechanisms.1', /unknown mechanism "cram-md5"/, '"cram-md5"');
  const toml = auth('mechanisms', `[ { if = "listener", ne = "smtp", then = ["plain", "scram-sha-1"] },\n               { else = [] } ]`);
  assertProblem(toml, 'session.auth.mechanisms.0.then.1', /unknown mechanism "scram-sha-1"/, '"scram-sha-1"');
});

test('unknown lookup: undeclared remote, remote without lookup = true, undeclared directory, bad prefix', () => {
  const remote = `[remote."imap"]\naddress = "127.0.0.1"\nport = 993\nprotocol = "imap"\n`;
  assertProblem(auth('lookup', `"remote/imap"`), 'session.auth.lookup', /unknown lookup "remote\/imap": no \[remote\."imap"\] is declared/, 'lookup');
  assertProblem(auth('lookup', `"remote/imap"`) + remote, 'session.auth.lookup', /needs lookup = true/, 'lookup');
  const toml = auth('lookup', `[ { if = "listener", ne = "smtp", then = "directory/users" },\n           { else = false } ]`);
  assertProblem(toml, 'session.auth.lookup.0.then', /unknown lookup "directory\/users": no \[directory\."users"\] is declared/, 'then');
  assertProblem(auth('lookup', `"ldap/corp"`), 'session.auth.lookup', /unknown lookup "ldap\/corp"/, 'lookup');
  assertProblem(auth('lookup', `true`), 'session.auth.lookup', /expected "remote\/<id>", "directory\/<id>" or false, got a boolean/, 'lookup');
});

test('the listener variable must name a declared listener, with eq/ne only', () => {
  const toml = auth('require', `[ { if = "listener", ne = "smpt", then = true }, { else = false } ]`);
  assertProblem(toml, 'session.auth.require.0.ne', /listener "smpt" does not exist \(declared: "smtp", "submission"\)/, 'ne =');
  const other = auth('require', `[ { if = "listener", starts-with = "sub", then = true }, { else = false } ]`);
  assertProblem(other, 'session.auth.require.0.starts-with', /only eq\/ne/, 'starts-with');
});

test('in-list takes an inline list; matches takes a valid regex; combinators take conditions', () => {
  assertProblem(auth('require', `[ { if = "helo-domain", in-list = "my-list", then = true }, { else = false } ]`), 'session.auth.require.0.in-list', /list of strings/, 'in-list');
  assertProblem(auth('require', `[ { if = "helo-domain", matches = "(unclosed", then = true }, { else = false } ]`), 'session.auth.require.0.matches', /invalid regular expression/, 'matches');
  assertProblem(auth('require', `[ { any-of = "x", then = true }, { else = false } ]`), 'session.auth.require.0.any-of', /non-empty list of conditions/, 'any-of');
  const nested = auth('require', `[ { all-of = [ { if = "listener", eq = "smtp" },\n                   { if = "helo", eq = "x" } ], then = true },\n  { else = false } ]`);
  assertProblem(nested, 'session.auth.require.0.all-of.1.if', /unknown variable "helo"/, 'if = "helo"');
});

test('every mistake in a file is reported at once, in file order', () => {
  const toml = `[session.auth]
mechanisms = ["plain", "kerberos"]
require = [ { if = "listener", ne = "smtp" }, { else = false } ]
lookup = "remote/nowhere"
[session.auth.errors]
total = 0
wait = "1 week"
${LISTENERS}`;
  const problems = problemsOf(toml);
  assert.deepEqual(
    problems.map((p) => [p.key, p.line]),
    [
      ['session.auth.mechanisms.1', 2],
      ['session.auth.require.0', 3],
      ['session.auth.lookup', 4],
      ['session.auth.errors.total', 6],
      ['session.auth.errors.wait', 7],
    ],
  );
});
