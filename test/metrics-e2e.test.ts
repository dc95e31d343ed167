// Metrics end to end: real SMTP traffic into a running Postern, a real Dovecot behind remote/imap, a
// real Prometheus scraping /metrics every second, and every PromQL query of grafana/postern.json run there.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { startDovecot, type RunningDovecot } from './helpers/dovecot.js';
import { listeners, memoryDirectory } from './helpers/fixtures.js';
import { basics, scratch, startPostern, type TestPostern } from './helpers/postern.js';
import { parseExposition, promtoolCheck, startPrometheus, type ExpositionSample, type RunningPrometheus } from './helpers/prometheus.js';
import { plain, secured } from './helpers/smtp.js';
import { eventually, poll } from './helpers/wait.js';

const SECRETS = { dirUser: 'alice', dirPass: 'alice-dir-secret', imapUser: 'carol', imapPass: 'carol-imap-secret' };

const LISTENERS = listeners({ submission: 'smtp', imapsub: 'smtp', metrics: 'http' });

const config = (imapsPort: number): string => `
[session.auth]
mechanisms = ["plain", "login"]
lookup = [ { if = "listener", eq = "imapsub", then = "remote/imap" },
           { else = "directory/local" } ]
require = true
[session.auth.errors]
total = 3
wait = "1ms"
${memoryDirectory([{ name: SECRETS.dirUser, secret: SECRETS.dirPass, email: ['alice@example.org'] }])}
[remote."imap"]
address = "127.0.0.1"
port = ${imapsPort}
protocol = "imap"
lookup = true
concurrency = 2
timeout = "5s"
tls.implicit = true
tls.allow-invalid-certs = true
`;

let dovecot: RunningDovecot;
let postern: TestPostern;
let prometheus: RunningPrometheus;

before(async () => {
  dovecot = await startDovecot({ users: { [SECRETS.imapUser]: SECRETS.imapPass } });
  const { dir, cert } = await scratch();
  postern = await startPostern(basics(dir, cert, { listeners: LISTENERS }) + config(dovecot.imapsPort));
  prometheus = await startPrometheus({ targets: [`127.0.0.1:${postern.port('metrics')}`] });
});

after(async () => {
  await prometheus?.stop();
  await postern?.close();
  await dovecot?.stop();
});

async function auth(listener: string, user: string, password: string): Promise<number> {
  const c = await secured(postern, listener);
  const code = (await c.send(`AUTH PLAIN ${plain(user, password)}`)).code;
  c.close();
  await c.closedPromise;
  return code;
}

async function scrape(): Promise<{ text: string; samples: ExpositionSample[] }> {
  const response = await fetch(`http://127.0.0.1:${postern.port('metrics')}/metrics`);
  assert.equal(response.status, 200);
  const text = await response.text();
  return { text, samples: parseExposition(text) };
}

/** Sum of a metric's samples whose labels include `labels`. */
function total(samples: ExpositionSample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

test('traffic is counted, exposed cleanly, scraped by Prometheus, and every dashboard query answers', async (t) => {
  // --- traffic -------------------------------------------------------------------------------------
  // Three wrong passwords on one session: 535 twice, then 535 + 421 and the server hangs up.
  const bad = await secured(postern, 'submission');
  for (let i = 0; i < 3; i++) assert.equal((await bad.send(`AUTH PLAIN ${plain(SECRETS.dirUser, 'wrong-password')}`)).code, 535);
  assert.equal((await bad.read()).code, 421);
  await bad.closedPromise;

  // A good AUTH and one queued message.
  const good = await secured(postern, 'submission');
  assert.equal((await good.send(`AUTH PLAIN ${plain(SECRETS.dirUser, SECRETS.dirPass)}`)).code, 235);
  assert.equal((await good.send('MAIL FROM:<alice@example.org>')).code, 250);
  assert.equal((await good.send('RCPT TO:<bob@example.net>')).code, 250);
  assert.equal((await good.send('DATA')).code, 354);
  const body = 'Subject: metrics\r\n\r\nHello from the metrics test.\r\n';
  good.write(`${body}.`);
  assert.equal((await good.read()).code, 250);
  assert.equal((await good.send('QUIT')).code, 221);
  await good.closedPromise;

  // remote/imap: a miss checked by Dovecot, then a positive cache hit, then Dovecot down → 454.
  assert.equal(await auth('imapsub', SECRETS.imapUser, SECRETS.imapPass), 235);
  assert.equal(await auth('imapsub', SECRETS.imapUser, SECRETS.imapPass), 235);
  await dovecot.stop();
  assert.equal(await auth('imapsub', 'dave', 'dave-password'), 454);
  // Every session closed on the server side, so the counters are final.
  const closes = (): number => postern.seen.filter((e) => e.type === 'session.close').length;
  await eventually(() => closes() >= 5, 'five session.close events', { timeout: 15_000 });
  // Prometheus must scrape after this instant for its counts to be the final ones.
  const trafficEnd = Date.now() / 1000;

  // --- the scrape itself ---------------------------------------------------------------------------
  const { text, samples } = await scrape();
  await t.test('promtool finds no problems in the scrape', async () => {
    assert.deepEqual(await promtoolCheck(text), { code: 0, stderr: '' });
  });

  await t.test('counters match the traffic', () => {
    const sub = { listener: 'submission' };
    const imap = { listener: 'imapsub' };
    assert.equal(total(samples, 'postern_smtp_connections_total', sub), 2);
    assert.equal(total(samples, 'postern_smtp_connections_total', imap), 3);
    assert.equal(total(samples, 'postern_smtp_connections_active'), 0);
    assert.equal(total(samples, 'postern_smtp_tls_handshakes_total', { outcome: 'ok' }), 5);
    assert.equal(total(samples, 'postern_auth_attempts_total', { ...sub, mechanism: 'PLAIN', result: 'bad_credentials' }), 3);
    assert.equal(total(samples, 'postern_auth_attempts_total', { ...sub, mechanism: 'PLAIN', result: 'success' }), 1);
    assert.equal(total(samples, 'postern_auth_attempts_total', { ...imap, mechanism: 'PLAIN', result: 'success' }), 2);
    assert.equal(total(samples, 'postern_auth_attempts_total', { ...imap, mechanism: 'PLAIN', result: 'temp_failure' }), 1);
    assert.equal(total(samples, 'postern_auth_attempts_total'), 7);
    assert.equal(total(samples, 'postern_auth_too_many_errors_total', sub), 1);
    assert.equal(total(samples, 'postern_auth_duration_seconds_count'), 7);
    assert.equal(total(samples, 'postern_messages_queued_total', sub), 1);
    const queued = postern.seen.flatMap((e) => (e.type === 'message.queued' ? [e.bytes] : []));
    assert.deepEqual(queued.length, 1);
    assert.ok(queued[0]! >= body.length - 2);
    assert.equal(total(samples, 'postern_messages_queued_bytes_total', sub), queued[0]);
    const remote = { remote: 'imap' };
    assert.equal(total(samples, 'postern_lookup_cache_misses_total', remote), 2);
    assert.equal(total(samples, 'postern_lookup_cache_hits_total', { ...remote, polarity: 'positive' }), 1);
    assert.equal(total(samples, 'postern_lookup_check_duration_seconds_count', { ...remote, result: 'ok' }), 1);
    assert.equal(total(samples, 'postern_lookup_check_duration_seconds_count', { ...remote, result: 'tempfail' }), 1);
    assert.equal(total(samples, 'postern_lookup_cache_entries', { ...remote, polarity: 'positive' }), 1);
    assert.equal(total(samples, 'postern_lookup_imap_connections_limit', remote), 2);
    assert.equal(total(samples, 'postern_lookup_imap_connections_open', remote), 0);
    // Worker tasks ran (rules once per distinct rule input, SASL per AUTH) and every one reached /metrics.
    assert.ok(total(samples, 'postern_pool_tasks_total', { kind: 'sasl', ok: 'true' }) >= 7);
    const rulesRun = postern.seen.filter((e) => e.type === 'pool.task' && e.kind === 'rules' && e.ok).length;
    assert.ok(rulesRun >= 1);
    assert.equal(total(samples, 'postern_pool_tasks_total', { kind: 'rules', ok: 'true' }), rulesRun);
    const ran = postern.running.config.server.workers.threads;
    assert.equal(total(samples, 'postern_pool_threads'), ran);
    assert.ok(total(samples, 'postern_pool_busy_seconds_total') > 0);
    assert.ok(
      Math.abs(total(samples, 'postern_pool_busy_seconds_total') - total(samples, 'postern_pool_task_duration_seconds_sum')) < 1e-6,
      'busy seconds = summed task durations',
    );
  });

  await t.test('no label value or sample carries a user name, password or client address', () => {
    const values = samples.flatMap((s) => Object.values(s.labels));
    for (const secret of [...Object.values(SECRETS), 'dave', 'wrong-password', 'example.org', '127.0.0.1']) {
      assert.ok(!values.some((v) => v.includes(secret)), `a label contains ${secret}`);
    }
    for (const secret of Object.values(SECRETS)) assert.ok(!text.includes(secret), `the scrape contains ${secret}`);
  });

  // --- Prometheus ----------------------------------------------------------------------------------
  const job = prometheus.job;
  const sel = `job="${job}"`;
  await t.test('Prometheus scraped the same counts', async () => {
    // Waiting for a count to show up is not enough: a scrape taken mid-traffic already shows some.
    const scraped = await prometheus.poll(`timestamp(up{${sel}} == 1)`, (r) => Number(r[0]?.value[1]) > trafficEnd, 30_000);
    assert.ok(Number(scraped[0]?.value[1]) > trafficEnd, `no successful scrape after the traffic: ${JSON.stringify(scraped)}`);
    for (const [expr, want] of [
      [`sum(postern_auth_attempts_total{${sel}, listener="submission", result="bad_credentials"})`, '3'],
      [`sum(postern_auth_attempts_total{${sel}})`, '7'],
      [`sum(postern_auth_attempts_total{${sel}, listener="imapsub", result="temp_failure"})`, '1'],
      [`sum(postern_lookup_cache_hits_total{${sel}, polarity="positive"})`, '1'],
      [`sum(postern_messages_queued_total{${sel}})`, '1'],
    ] as const) {
      const r = await prometheus.query(expr);
      assert.equal(r[0]?.value[1], want, expr);
    }
  });

  await t.test('every query in grafana/postern.json parses and returns a series', async () => {
    const dashboard = JSON.parse(await readFile(new URL('../grafana/postern.json', import.meta.url), 'utf8')) as Dashboard;
    const instance = `127.0.0.1:${postern.port('metrics')}`;
    const vars: Record<string, string> = {
      job,
      instance: instance.replaceAll('.', '\\\\.'),
      listener: '.*',
      remote: 'imap',
      __rate_interval: '30s',
      __range: '5m',
    };
    const substitute = (expr: string): string =>
      expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, a?: string, b?: string) => {
        const value = vars[(a ?? b)!];
        assert.ok(value !== undefined, `unknown variable ${whole} in ${expr}`);
        return value;
      });

    assert.ok(dashboard.schemaVersion >= 39);
    assert.ok(dashboard.__inputs.some((i) => i.name === 'DS_PROMETHEUS' && i.pluginId === 'prometheus'));
    const exprs: string[] = [];
    for (const panel of dashboard.panels) {
      assert.equal(panel.datasource?.uid, '${DS_PROMETHEUS}', panel.title);
      for (const target of panel.targets ?? []) {
        assert.equal(target.datasource?.uid, '${DS_PROMETHEUS}', panel.title);
        assert.match(target.expr, /job="\$job", instance=~"\$instance"/, panel.title);
        exprs.push(target.expr);
      }
    }
    // Template variables: label_values(<selector>, <label>) — the selector must find series with that label.
    for (const v of dashboard.templating.list) {
      const m = /^label_values\((.*), (\w+)\)$/.exec(v.definition);
      assert.ok(m, `variable ${v.name}: ${v.definition}`);
      const series = await prometheus.query(substitute(m[1]!));
      assert.ok(series.some((s) => s.metric[m[2]!] !== undefined), `variable ${v.name} finds no ${m[2]}`);
    }
    assert.ok(exprs.length >= 30, `${exprs.length} queries`);

    // rate() needs two samples in its window: poll (bounded) until every query has a series.
    const empty = new Set(exprs);
    await poll(
      async () => {
        for (const expr of [...empty]) {
          const result = await prometheus.query(substitute(expr));
          if (result.length > 0) empty.delete(expr);
        }
        return empty.size === 0;
      },
      { timeout: 15_000, every: 500 },
    );
    assert.deepEqual([...empty], [], 'queries without a series');
  });
});

interface Dashboard {
  schemaVersion: number;
  __inputs: { name: string; pluginId: string }[];
  panels: { title: string; datasource?: { uid: string }; targets?: { expr: string; datasource?: { uid: string } }[] }[];
  templating: { list: { name: string; definition: string }[] };
}
