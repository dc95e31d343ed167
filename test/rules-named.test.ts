// Rules beyond [session.auth]: keys evaluated once the envelope is known may test the envelope
// variables; they are evaluated in the pool and remembered per distinct input of what they test.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { evaluate } from '../src/config/rules.js';
import { compileRule, type RuleContext } from '../src/config/rules-compile.js';
import type { Rule, Variable } from '../src/config/types.js';
import { EventBus } from '../src/events.js';
import { WorkerPool } from '../src/pool/pool.js';
import { RuleEvaluator } from '../src/pool/remembered.js';

const ENVELOPE: readonly Variable[] = ['listener', 'remote-ip', 'authenticated-as', 'sender', 'sender-domain', 'rcpt-domain'];

function compiled(raw: unknown, variables = ENVELOPE): { rule: Rule<string> | undefined; errors: string[] } {
  const errors: string[] = [];
  const ctx: RuleContext = { listeners: new Set(['submission']), variables, error: (path, message) => errors.push(`${path.join('.')}: ${message}`) };
  const rule = compileRule(raw, ['queue', 'outbound', 'next-hop'], ctx, (value) => (typeof value === 'string' ? value : undefined));
  return { rule, errors };
}

test('a key that allows envelope variables compiles and evaluates them; one not known yet reads as ""', () => {
  const { rule, errors } = compiled([
    { if: 'rcpt-domain', eq: 'example.org', then: 'lmtp' },
    { if: 'sender-domain', 'ends-with': '.internal', then: 'internal' },
    { else: 'relay' },
  ]);
  assert.deepEqual(errors, []);
  assert.ok(rule);
  assert.equal(evaluate(rule, { 'rcpt-domain': 'example.org' }), 'lmtp');
  assert.equal(evaluate(rule, { 'sender-domain': 'hr.internal', 'rcpt-domain': 'example.net' }), 'internal');
  assert.equal(evaluate(rule, { listener: 'submission' }), 'relay');
});

test('a variable the key does not allow is reported with the ones it does', () => {
  const { rule, errors } = compiled([{ if: 'rcpt', eq: 'a@example.org', then: 'x' }, { else: 'y' }], ['listener', 'sender']);
  assert.equal(rule, undefined);
  assert.deepEqual(errors, ['queue.outbound.next-hop.0.if: unknown variable "rcpt" (available here: "listener", "sender")']);
});

test('named rules run on a worker, once per distinct value of the variables they test', async () => {
  const { rule } = compiled([{ if: 'sender-domain', eq: 'example.org', then: 'a' }, { else: 'b' }]);
  assert.ok(rule);
  const events = new EventBus();
  let tasks = 0;
  events.on((e) => {
    if (e.type === 'pool.task' && e.kind === 'rules' && e.threadId > 0) tasks += 1;
  });
  const pool = new WorkerPool({ threads: 1, maxQueue: 16, named: { 'queue.outbound.next-hop': rule }, events });
  after(() => pool.close());
  const rules = new RuleEvaluator(pool, { 'queue.outbound.next-hop': rule });
  const at = (domain: string, rcpt: string) => rules.evaluate<string>('queue.outbound.next-hop', { 'sender-domain': domain, 'rcpt-domain': rcpt });
  assert.equal(await at('example.org', 'one.example'), 'a');
  assert.equal(await at('example.org', 'two.example'), 'a'); // rcpt-domain is not tested: remembered
  assert.equal(await at('example.net', 'one.example'), 'b');
  assert.equal(tasks, 2);
  await assert.rejects(rules.evaluate('no.such.rule', {}), /no rule "no.such.rule"/);
});

test('a pool started without rules hashes, and refuses rule tasks as temporary failures', async () => {
  const pool = new WorkerPool({ threads: 1, maxQueue: 4, events: new EventBus() });
  after(() => pool.close());
  assert.equal(await pool.verifySecret('plain-secret', 'plain-secret'), true);
  await assert.rejects(pool.resolveSession({ listener: 'x', 'remote-ip': '', 'local-ip': '', 'helo-domain': '' }), /started without rules/);
  await assert.rejects(pool.evaluate('anything', {}), /no such rule/);
});
