// The if-block language end to end: TOML text → compiled rule → evaluate() against session variables.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { evaluate, resolveAuthSettings, ruleUses } from '../src/config/rules.js';
import type { Rule, SessionVars } from '../src/config/types.js';
import { sessionVars } from './helpers/config.js';
import { LISTENERS } from './helpers/fixtures.js';

/** `session.auth.errors.total = <block>`: integer results make "which branch won" visible. */
function compile(block: string): Rule<number> {
  return parseConfig(`${LISTENERS}\n[session.auth.errors]\ntotal = ${block}\n`, 'test.toml').auth.errorsTotal;
}

/** A one-condition rule; returns whether it matches the given variables. */
function condition(cond: string): (vars?: Partial<SessionVars>) => boolean {
  const rule = compile(`[ { ${cond}, then = 1 }, { else = 2 } ]`);
  return (vars = {}) => evaluate(rule, sessionVars(vars)) === 1;
}

test('a plain value is the same for every session', () => {
  const rule = compile('7');
  assert.deepEqual(rule, { branches: [], otherwise: 7 });
  assert.equal(evaluate(rule, sessionVars({ listener: 'smtp' })), 7);
  assert.equal(evaluate(rule, sessionVars({ listener: 'submission' })), 7);
});

test('eq / equal-to and ne / not-equal-to compare the whole text', () => {
  for (const op of ['eq', 'equal-to']) {
    const m = condition(`if = "helo-domain", ${op} = "mx.example"`);
    assert.equal(m({ 'helo-domain': 'mx.example' }), true, op);
    assert.equal(m({ 'helo-domain': 'mx.example.org' }), false, op);
    assert.equal(m({ 'helo-domain': '' }), false, `${op}: before EHLO helo-domain is empty`);
  }
  for (const op of ['ne', 'not-equal-to']) {
    const m = condition(`if = "helo-domain", ${op} = "mx.example"`);
    assert.equal(m({ 'helo-domain': 'mx.example' }), false, op);
    assert.equal(m({ 'helo-domain': 'other.example' }), true, op);
  }
});

test('listener eq / ne name a declared listener', () => {
  const eq = condition('if = "listener", eq = "smtp"');
  const ne = condition('if = "listener", ne = "smtp"');
  assert.equal(eq({ listener: 'smtp' }), true);
  assert.equal(eq({ listener: 'submission' }), false);
  assert.equal(ne({ listener: 'smtp' }), false);
  assert.equal(ne({ listener: 'submission' }), true);
});

test('in-list / not-in-list test membership of an inline list', () => {
  const inList = condition('if = "helo-domain", in-list = ["a.example", "b.example"]');
  const notInList = condition('if = "helo-domain", not-in-list = ["a.example", "b.example"]');
  assert.equal(inList({ 'helo-domain': 'b.example' }), true);
  assert.equal(inList({ 'helo-domain': 'c.example' }), false);
  assert.equal(notInList({ 'helo-domain': 'b.example' }), false);
  assert.equal(notInList({ 'helo-domain': 'c.example' }), true);
});

test('matches / not-matches use a regular expression (Rust-style (?i) prefix honoured)', () => {
  const m = condition(String.raw`if = "helo-domain", matches = '^mail\d+\.example$'`);
  assert.equal(m({ 'helo-domain': 'mail42.example' }), true);
  assert.equal(m({ 'helo-domain': 'mail.example' }), false);
  const not = condition(String.raw`if = "helo-domain", not-matches = '^mail\d+\.example$'`);
  assert.equal(not({ 'helo-domain': 'mail42.example' }), false);
  assert.equal(not({ 'helo-domain': 'mail.example' }), true);
  const caseless = condition(`if = "helo-domain", matches = "(?i)^MAIL"`);
  assert.equal(caseless({ 'helo-domain': 'mail.example' }), true);
  assert.equal(condition(`if = "helo-domain", matches = "^MAIL"`)({ 'helo-domain': 'mail.example' }), false);
});

test('starts-with / ends-with and their negations', () => {
  assert.equal(condition('if = "helo-domain", starts-with = "mx."')({ 'helo-domain': 'mx.example' }), true);
  assert.equal(condition('if = "helo-domain", starts-with = "mx."')({ 'helo-domain': 'smtp.example' }), false);
  assert.equal(condition('if = "helo-domain", not-starts-with = "mx."')({ 'helo-domain': 'mx.example' }), false);
  assert.equal(condition('if = "helo-domain", not-starts-with = "mx."')({ 'helo-domain': 'smtp.example' }), true);
  assert.equal(condition('if = "helo-domain", ends-with = ".org"')({ 'helo-domain': 'mx.example.org' }), true);
  assert.equal(condition('if = "helo-domain", ends-with = ".org"')({ 'helo-domain': 'mx.example.net' }), false);
  assert.equal(condition('if = "helo-domain", not-ends-with = ".org"')({ 'helo-domain': 'mx.example.org' }), false);
  assert.equal(condition('if = "helo-domain", not-ends-with = ".org"')({ 'helo-domain': 'mx.example.net' }), true);
});

test('text operations on IP variables compare the text', () => {
  const m = condition('if = "remote-ip", starts-with = "192.0.2."');
  assert.equal(m({ 'remote-ip': '192.0.2.77' }), true);
  assert.equal(m({ 'remote-ip': '198.51.100.1' }), false);
  assert.equal(condition('if = "local-ip", in-list = ["127.0.0.1", "::1"]')({ 'local-ip': '::1' }), true);
});

test('any-of, all-of and none-of combine conditions, and nest', () => {
  const a = '{ if = "listener", eq = "submission" }';
  const b = '{ if = "helo-domain", ends-with = ".example" }';
  const cases: [Partial<SessionVars>, boolean, boolean, boolean][] = [
    // vars, any-of, all-of, none-of
    [{ listener: 'submission', 'helo-domain': 'x.example' }, true, true, false],
    [{ listener: 'submission', 'helo-domain': 'x.test' }, true, false, false],
    [{ listener: 'smtp', 'helo-domain': 'x.example' }, true, false, false],
    [{ listener: 'smtp', 'helo-domain': 'x.test' }, false, false, true],
  ];
  const anyOf = condition(`any-of = [${a}, ${b}]`);
  const allOf = condition(`all-of = [${a}, ${b}]`);
  const noneOf = condition(`none-of = [${a}, ${b}]`);
  for (const [vars, any, all, none] of cases) {
    assert.equal(anyOf(vars), any, `any-of ${JSON.stringify(vars)}`);
    assert.equal(allOf(vars), all, `all-of ${JSON.stringify(vars)}`);
    assert.equal(noneOf(vars), none, `none-of ${JSON.stringify(vars)}`);
  }
  // submission AND NOT (helo in the blocklist OR from the documentation network)
  const nested = condition(
    `all-of = [ ${a}, { none-of = [ { if = "helo-domain", in-list = ["bad.example"] }, { if = "remote-ip", eq = "198.51.100.0/24" } ] } ]`,
  );
  assert.equal(nested({ 'helo-domain': 'good.example', 'remote-ip': '192.0.2.1' }), true);
  assert.equal(nested({ 'helo-domain': 'bad.example', 'remote-ip': '192.0.2.1' }), false);
  assert.equal(nested({ 'helo-domain': 'good.example', 'remote-ip': '198.51.100.9' }), false);
  assert.equal(nested({ listener: 'smtp', 'helo-domain': 'good.example' }), false);
});

test('the first matching branch wins; else when none matches', () => {
  const rule = compile(`[ { if = "helo-domain", ends-with = ".example", then = 1 },
                          { if = "helo-domain", starts-with = "mx.", then = 2 },
                          { else = 3 } ]`);
  assert.equal(evaluate(rule, sessionVars({ 'helo-domain': 'mx.example' })), 1, 'both match: the first wins');
  assert.equal(evaluate(rule, sessionVars({ 'helo-domain': 'mx.test' })), 2);
  assert.equal(evaluate(rule, sessionVars({ 'helo-domain': 'other.test' })), 3);
});

test('Stalwart\'s table form ([[key]] elements) compiles like the inline form', () => {
  const config = parseConfig(
    `${LISTENERS}
[[session.auth.require]]
if = "listener"
ne = "smtp"
then = true
[[session.auth.require]]
else = false
`,
    'test.toml',
  );
  assert.equal(evaluate(config.auth.require, sessionVars({ listener: 'submission' })), true);
  assert.equal(evaluate(config.auth.require, sessionVars({ listener: 'smtp' })), false);
});

test('rules survive structured clone (what the worker pool does to them)', () => {
  const config = parseConfig(
    `${LISTENERS}
[session.auth]
mechanisms = [ { if = "helo-domain", matches = "(?i)^TRUSTED\\\\.", then = ["plain", "xoauth2"] },
               { if = "remote-ip", eq = "2001:db8::/32", then = "oauthbearer" },
               { else = [] } ]
require = true
`,
    'test.toml',
  );
  const rules = structuredClone(config.auth);
  assert.deepEqual(resolveAuthSettings(rules, sessionVars({ 'helo-domain': 'trusted.example' })).mechanisms, ['PLAIN', 'XOAUTH2']);
  assert.deepEqual(resolveAuthSettings(rules, sessionVars({ 'remote-ip': '2001:db8:1::5' })).mechanisms, ['OAUTHBEARER']);
  assert.deepEqual(resolveAuthSettings(rules, sessionVars()), {
    mechanisms: [],
    lookup: null,
    require: true,
    errorsTotal: 3,
    errorsWait: 30_000,
  });
});

test('ruleUses finds a variable anywhere in a rule, nested combinators included', () => {
  assert.equal(ruleUses(compile('7'), 'helo-domain'), false);
  assert.equal(ruleUses(compile('[ { if = "listener", eq = "smtp", then = 1 }, { else = 2 } ]'), 'helo-domain'), false);
  const nested = compile(
    '[ { if = "listener", eq = "smtp", then = 1 }, { all-of = [ { if = "remote-ip", eq = "10.0.0.0/8" }, { any-of = [ { if = "helo-domain", ends-with = ".example" } ] } ], then = 3 }, { else = 2 } ]',
  );
  assert.equal(ruleUses(nested, 'helo-domain'), true);
  assert.equal(ruleUses(nested, 'remote-ip'), true);
  assert.equal(ruleUses(nested, 'local-ip'), false);
});
