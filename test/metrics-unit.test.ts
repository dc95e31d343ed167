// The metrics module on its own: events in, exposition text out, checked by promtool and over HTTP.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { EventBus, type PosternEvent } from '../src/events.js';
import { createMetrics, type Metrics, type MetricsSources } from '../src/metrics/index.js';
import { parseExposition, promtoolCheck, sampleValue, type ExpositionSample } from './helpers/prometheus.js';

// Stats sources are plain objects here: the real pool and actors are exercised in metrics-e2e.
function fakeSources(): MetricsSources {
  return {
    listeners: ['smtp', 'submission'],
    // The pool's own busySeconds starts at 0 with each generation's pool: the metrics count the task events instead.
    pool: { stats: () => ({ threads: 2, queueSize: 3, maxQueue: 64, completed: 0, busySeconds: 0 }) },
    remotes: () => [
      {
        path: 'remote/imap',
        stats: () => ({ queued: 4, open: 2, concurrency: 10, positive: 5, negative: 1 }),
        verify: () => Promise.resolve({ kind: 'bad' }),
        close: () => Promise.resolve(),
      },
    ],
  };
}

const USER = 'alice.secret-user@example.org';

function authResult(result: Extract<PosternEvent, { type: 'auth.result' }>['result'], mechanism: 'PLAIN' | 'LOGIN' = 'PLAIN'): PosternEvent {
  return { type: 'auth.result', sessionId: 's1', listener: 'submission', mechanism, result, user: USER, seconds: 0.02 };
}

async function scrape(metrics: Metrics): Promise<{ text: string; samples: ExpositionSample[] }> {
  const text = await metrics.registry.metrics();
  return { text, samples: parseExposition(text) };
}

describe('metrics from events', () => {
  let bus: EventBus;
  let sources: ReturnType<typeof fakeSources>;
  let metrics: Metrics;
  let createdAt: number;
  before(() => {
    createdAt = performance.now();
    bus = new EventBus();
    sources = fakeSources();
    metrics = createMetrics(bus, sources);
  });
  after(() => metrics.close());

  test('common series exist at 0 before any traffic', async () => {
    const { samples } = await scrape(metrics);
    for (const listener of ['smtp', 'submission']) {
      assert.equal(sampleValue(samples, 'postern_smtp_connections_total', { listener }), 0);
      assert.equal(sampleValue(samples, 'postern_auth_too_many_errors_total', { listener }), 0);
      for (const result of ['success', 'bad_credentials', 'temp_failure', 'malformed', 'cancelled', 'too_long', 'not_allowed']) {
        assert.equal(sampleValue(samples, 'postern_auth_attempts_total', { listener, mechanism: 'PLAIN', result }), 0);
      }
    }
    assert.equal(sampleValue(samples, 'postern_auth_duration_seconds_count', { result: 'success' }), 0);
    assert.equal(sampleValue(samples, 'postern_lookup_cache_misses_total', { remote: 'imap' }), 0);
    assert.equal(sampleValue(samples, 'postern_pool_tasks_total', { kind: 'hash', ok: 'false' }), 0);
  });

  test('sessions, TLS, AUTH and messages are counted exactly', async () => {
    bus.emit({ type: 'session.connect', sessionId: 's1', listener: 'submission', remoteIp: '192.0.2.7', secure: false });
    bus.emit({ type: 'session.connect', sessionId: 's2', listener: 'submission', remoteIp: '192.0.2.8', secure: false });
    bus.emit({ type: 'session.tls', sessionId: 's1', listener: 'submission', ok: true, cipher: 'TLS_AES_256_GCM_SHA384' });
    bus.emit({ type: 'session.tls', sessionId: '', listener: 'submission', ok: false, reason: 'ECONNRESET' });
    for (let i = 0; i < 3; i++) bus.emit(authResult('bad_credentials'));
    bus.emit(authResult('success', 'LOGIN'));
    bus.emit({ type: 'auth.too_many_errors', sessionId: 's1', listener: 'submission' });
    bus.emit({ type: 'message.queued', sessionId: 's2', listener: 'submission', id: 'q1', bytes: 1200, user: USER });
    bus.emit({ type: 'message.queued', sessionId: 's2', listener: 'submission', id: 'q2', bytes: 800, user: USER });
    bus.emit({ type: 'message.rejected', sessionId: 's2', listener: 'submission', reason: 'too_large' });
    bus.emit({ type: 'session.close', sessionId: 's1', listener: 'submission' });

    const { samples } = await scrape(metrics);
    const sub = { listener: 'submission' };
    assert.equal(sampleValue(samples, 'postern_smtp_connections_total', sub), 2);
    assert.equal(sampleValue(samples, 'postern_smtp_connections_active', sub), 1);
    assert.equal(sampleValue(samples, 'postern_smtp_connections_total', { listener: 'smtp' }), 0);
    assert.equal(sampleValue(samples, 'postern_smtp_tls_handshakes_total', { ...sub, outcome: 'ok' }), 1);
    assert.equal(sampleValue(samples, 'postern_smtp_tls_handshakes_total', { ...sub, outcome: 'failed' }), 1);
    assert.equal(sampleValue(samples, 'postern_auth_attempts_total', { ...sub, mechanism: 'PLAIN', result: 'bad_credentials' }), 3);
    assert.equal(sampleValue(samples, 'postern_auth_attempts_total', { ...sub, mechanism: 'LOGIN', result: 'success' }), 1);
    assert.equal(sampleValue(samples, 'postern_auth_duration_seconds_count', { result: 'bad_credentials' }), 3);
    assert.equal(sampleValue(samples, 'postern_auth_duration_seconds_bucket', { result: 'bad_credentials', le: '0.01' }), 0);
    assert.equal(sampleValue(samples, 'postern_auth_duration_seconds_bucket', { result: 'bad_credentials', le: '0.025' }), 3);
    assert.equal(sampleValue(samples, 'postern_auth_too_many_errors_total', sub), 1);
    assert.equal(sampleValue(samples, 'postern_messages_queued_total', sub), 2);
    assert.equal(sampleValue(samples, 'postern_messages_queued_bytes_total', sub), 2000);
    assert.equal(sampleValue(samples, 'postern_messages_rejected_total', { ...sub, reason: 'too_large' }), 1);
  });

  test('worker tasks, busy time and utilization', async () => {
    bus.emit({ type: 'pool.task', kind: 'hash', seconds: 0.25, ok: true, threadId: 1 });
    bus.emit({ type: 'pool.task', kind: 'hash', seconds: 0.5, ok: false, threadId: 2 });
    bus.emit({ type: 'pool.task', kind: 'sasl', seconds: 0.0001, ok: true, threadId: 1 });
    bus.emit({ type: 'pool.refused', kind: 'rules', reason: 'queue_full' });

    const { samples } = await scrape(metrics);
    assert.equal(sampleValue(samples, 'postern_pool_threads'), 2);
    assert.equal(sampleValue(samples, 'postern_pool_queue_size'), 3);
    assert.equal(sampleValue(samples, 'postern_pool_queue_capacity'), 64);
    assert.equal(sampleValue(samples, 'postern_pool_tasks_total', { kind: 'hash', ok: 'true' }), 1);
    assert.equal(sampleValue(samples, 'postern_pool_tasks_total', { kind: 'hash', ok: 'false' }), 1);
    assert.equal(sampleValue(samples, 'postern_pool_tasks_total', { kind: 'rules', ok: 'false' }), 0);
    assert.equal(sampleValue(samples, 'postern_pool_tasks_refused_total', { kind: 'rules' }), 1);
    assert.equal(sampleValue(samples, 'postern_pool_task_duration_seconds_count', { kind: 'hash' }), 2);
    assert.equal(sampleValue(samples, 'postern_pool_task_duration_seconds_bucket', { kind: 'hash', le: '0.25' }), 1);
    assert.ok(Math.abs(sampleValue(samples, 'postern_pool_busy_seconds_total') - 0.7501) < 1e-9);
    // busy / (threads × wall): the wall time it implies must be the metrics' age.
    const ratio = sampleValue(samples, 'postern_pool_utilization_ratio');
    const wall = 0.7501 / (2 * ratio);
    assert.ok(wall > 0 && wall <= (performance.now() - createdAt) / 1000, `implied wall time ${wall} s`);
  });

  test('lookup actor gauges and cache counters, per remote', async () => {
    bus.emit({ type: 'lookup.cache', remote: 'imap', outcome: 'miss' });
    bus.emit({ type: 'lookup.check', remote: 'imap', result: 'ok', seconds: 0.03 });
    bus.emit({ type: 'lookup.cache', remote: 'imap', outcome: 'hit', polarity: 'positive' });
    bus.emit({ type: 'lookup.cache', remote: 'imap', outcome: 'hit', polarity: 'negative' });
    bus.emit({ type: 'lookup.check', remote: 'imap', result: 'tempfail', seconds: 2, reason: 'ECONNREFUSED' });
    bus.emit({ type: 'lookup.join', remote: 'imap' });
    bus.emit({ type: 'lookup.evict', remote: 'imap', polarity: 'negative' });
    bus.emit({ type: 'lookup.overflow', remote: 'imap' });

    const { samples } = await scrape(metrics);
    const imap = { remote: 'imap' };
    assert.equal(sampleValue(samples, 'postern_lookup_queued_requests', imap), 4);
    assert.equal(sampleValue(samples, 'postern_lookup_imap_connections_open', imap), 2);
    assert.equal(sampleValue(samples, 'postern_lookup_imap_connections_limit', imap), 10);
    assert.equal(sampleValue(samples, 'postern_lookup_cache_entries', { ...imap, polarity: 'positive' }), 5);
    assert.equal(sampleValue(samples, 'postern_lookup_cache_entries', { ...imap, polarity: 'negative' }), 1);
    assert.equal(sampleValue(samples, 'postern_lookup_cache_misses_total', imap), 1);
    assert.equal(sampleValue(samples, 'postern_lookup_cache_hits_total', { ...imap, polarity: 'positive' }), 1);
    assert.equal(sampleValue(samples, 'postern_lookup_cache_hits_total', { ...imap, polarity: 'negative' }), 1);
    assert.equal(sampleValue(samples, 'postern_lookup_check_duration_seconds_count', { ...imap, result: 'ok' }), 1);
    assert.equal(sampleValue(samples, 'postern_lookup_check_duration_seconds_count', { ...imap, result: 'tempfail' }), 1);
    assert.equal(sampleValue(samples, 'postern_lookup_joins_total', imap), 1);
    assert.equal(sampleValue(samples, 'postern_lookup_cache_evictions_total', { ...imap, polarity: 'negative' }), 1);
    assert.equal(sampleValue(samples, 'postern_lookup_queue_overflows_total', imap), 1);
  });

  test('a remote no longer in use (a reload removed it) has no gauge series; a remote added later gets its counters at 0', async () => {
    let remotes: MetricsSources['remotes'] = () => [];
    const switching = createMetrics(new EventBus(), { ...fakeSources(), remotes: () => remotes() });
    try {
      const none = (await scrape(switching)).samples;
      assert.equal(none.filter((s) => s.labels.remote === 'imap').length, 0);
      remotes = fakeSources().remotes;
      const added = (await scrape(switching)).samples;
      assert.equal(sampleValue(added, 'postern_lookup_imap_connections_limit', { remote: 'imap' }), 10);
      assert.equal(sampleValue(added, 'postern_lookup_cache_misses_total', { remote: 'imap' }), 0);
      remotes = () => [];
      const removed = (await scrape(switching)).samples;
      assert.equal(removed.filter((s) => s.name === 'postern_lookup_imap_connections_limit').length, 0);
    } finally {
      switching.close();
    }
  });

  test('config reloads by result, and the generation serving with its load time', async () => {
    const reload = (result: 'ok' | 'error', generation: number): PosternEvent =>
      ({ type: 'config.reload', source: '/etc/postern.toml', result, generation, problems: result === 'ok' ? 0 : 2 });
    let { samples } = await scrape(metrics);
    assert.equal(sampleValue(samples, 'postern_config_reloads_total', { result: 'ok' }), 0);
    assert.equal(sampleValue(samples, 'postern_config_reloads_total', { result: 'error' }), 0);
    assert.equal(sampleValue(samples, 'postern_config_last_reload_successful'), 1);

    bus.emit({ type: 'generation.started', generation: 1, seconds: 0.25 });
    bus.emit({ type: 'generation.started', generation: 2, seconds: 0.125 });
    bus.emit(reload('ok', 2));
    bus.emit(reload('error', 2));
    ({ samples } = await scrape(metrics));
    assert.equal(sampleValue(samples, 'postern_config_reloads_total', { result: 'ok' }), 1);
    assert.equal(sampleValue(samples, 'postern_config_reloads_total', { result: 'error' }), 1);
    assert.equal(sampleValue(samples, 'postern_config_last_reload_successful'), 0);
    assert.equal(sampleValue(samples, 'postern_config_generation'), 2);
    assert.equal(sampleValue(samples, 'postern_config_generation_load_seconds'), 0.125);

    bus.emit(reload('ok', 3));
    ({ samples } = await scrape(metrics));
    assert.equal(sampleValue(samples, 'postern_config_last_reload_successful'), 1);
  });

  test('no label carries a user name or client address; promtool finds no problems', async () => {
    const { text, samples } = await scrape(metrics);
    const values = samples.flatMap((s) => Object.values(s.labels));
    for (const secret of [USER, 'alice', '192.0.2.7', '192.0.2.8']) {
      assert.ok(!values.some((v) => v.includes(secret)), `a label contains ${secret}`);
      assert.ok(!text.includes(secret), `the scrape contains ${secret}`);
    }
    assert.deepEqual(await promtoolCheck(text), { code: 0, stderr: '' });
  });

  test('process metrics keep their stock names on this registry', async () => {
    const { samples } = await scrape(metrics);
    const names = new Set(samples.map((s) => s.name));
    for (const name of ['process_resident_memory_bytes', 'process_cpu_seconds_total', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
      assert.ok(names.has(name), name);
    }
  });

  test('close() stops counting and empties the registry', async () => {
    const bus2 = new EventBus();
    const m2 = createMetrics(bus2, fakeSources());
    m2.close();
    bus2.emit({ type: 'session.connect', sessionId: 'x', listener: 'smtp', remoteIp: '192.0.2.1', secure: false });
    assert.equal((await m2.registry.metrics()).trim(), '');
  });
});

describe('the /metrics endpoint over HTTP', () => {
  let metrics: Metrics;
  let server: Server;
  let base: string;
  before(async () => {
    metrics = createMetrics(new EventBus(), fakeSources());
    server = createServer(metrics.handle);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    metrics.close();
  });

  test('GET /metrics serves the registry with its content type', async () => {
    const response = await fetch(`${base}/metrics`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), metrics.registry.contentType);
    const text = await response.text();
    assert.match(text, /^postern_smtp_connections_total\{listener="smtp"\} 0$/m);
    assert.equal((await promtoolCheck(text)).code, 0);
    assert.equal((await fetch(`${base}/metrics?x=1`)).status, 200);
  });

  test('other paths are 404, other methods 405', async () => {
    for (const path of ['/', '/metricsx', '/metrics/', '/favicon.ico']) {
      const response = await fetch(`${base}${path}`);
      assert.equal(response.status, 404, path);
      await response.arrayBuffer();
    }
    const post = await fetch(`${base}/metrics`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    await post.arrayBuffer();
    const head = await fetch(`${base}/metrics`, { method: 'HEAD' });
    assert.equal(head.status, 200);
  });
});
