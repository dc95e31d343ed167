// Loading real configs: the seed's example (both copies), the shipped files, every default, and warnings.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { argon2Verify } from 'hash-wasm';
import { loadConfigFile, parseConfig } from '../src/config/load.js';
import { resolveAuthSettings } from '../src/config/rules.js';
import type { Config } from '../src/config/types.js';
import { ConfigError } from '../src/errors.js';
import { sessionVars, where } from './helpers/config.js';
import { LISTENERS } from './helpers/fixtures.js';

// Stalwart's "AUTH Stage" page, the project's origin, as copied into the repository (test/seeds/).
const SEEDS = fileURLToPath(new URL('./seeds', import.meta.url));
const repoFile = (path: string) => new URL(`../${path}`, import.meta.url).pathname;

const settings = (config: Config, listener: string) => resolveAuthSettings(config.auth, sessionVars({ listener }));

/** The seed's rule values: AUTH everywhere except on the "smtp" listener. */
function assertSeedRules(config: Config, lookup: string): void {
  assert.deepEqual(settings(config, 'smtp'), { mechanisms: [], lookup: null, require: false, errorsTotal: 3, errorsWait: 5_000 });
  assert.deepEqual(settings(config, 'submission'), { mechanisms: ['PLAIN', 'LOGIN'], lookup, require: true, errorsTotal: 3, errorsWait: 5_000 });
}

test('the seed page (.md) example loads unchanged, given listeners and the remote it names', async () => {
  const md = await readFile(join(SEEDS, 'stalwart-auth-stage.md'), 'utf8');
  const example = /```txt\n([\s\S]*?)```/.exec(md)?.[1];
  assert.ok(example?.includes('[session.auth]'));
  // The .md example says lookup = "remote/imap" without declaring it; the .txt copy has the declaration.
  const remote = `[remote."imap"]\naddress = "127.0.0.1"\nport = 993\nprotocol = "imap"\nlookup = true\n`;
  const config = parseConfig(`${example}\n${LISTENERS}\n${remote}`, 'seed.md.toml');
  assertSeedRules(config, 'remote/imap');
  assert.deepEqual(config.warnings, []);
});

test('the seed page (.txt) example, with its [remote."imap"], loads unchanged with every value', async () => {
  const txt = await readFile(join(SEEDS, 'stalwart-auth-stage.txt'), 'utf8');
  const example = txt.slice(txt.indexOf('[session.auth]'));
  const config = parseConfig(`${example}\n${LISTENERS}`, 'seed.txt.toml');
  assertSeedRules(config, 'remote/imap');
  assert.deepEqual(config.remotes, {
    imap: {
      id: 'imap',
      address: 'localhost',
      port: 143,
      protocol: 'imap',
      concurrency: 10,
      timeout: 60_000,
      lookup: true,
      cache: { entries: 1000, positiveTtl: 86_400_000, negativeTtl: 3_600_000 },
      tls: { implicit: false, allowInvalidCerts: true },
    },
  });
  assert.deepEqual(config.warnings, []);
});

test('every default, from the smallest config (one listener)', () => {
  const config = parseConfig('[server.listener."smtp"]\nbind = "127.0.0.1:2525"\n', 'min.toml');
  assert.deepEqual(config, {
    source: 'min.toml',
    server: {
      hostname: hostname(),
      greeting: 'Postern ESMTP at your service',
      controlSocket: './data/postern.sock',
      workers: { threads: availableParallelism(), maxQueue: 1024 },
    },
    listeners: [
      {
        id: 'smtp',
        bind: [{ host: '127.0.0.1', port: 2525 }],
        protocol: 'smtp',
        hostname: hostname(),
        greeting: 'Postern ESMTP at your service',
        tls: { enable: false, implicit: false, certificate: null },
        proxy: { trustedNetworks: [] },
      },
    ],
    auth: {
      mechanisms: { branches: [], otherwise: [] },
      lookup: { branches: [], otherwise: null },
      require: { branches: [], otherwise: false },
      errorsTotal: { branches: [], otherwise: 3 },
      errorsWait: { branches: [], otherwise: 30_000 },
    },
    rules: {},
    remotes: {},
    directories: {},
    queue: { path: './data/queue' },
    data: { maxSize: 104_857_600 },
    warnings: [],
  });
});

test('remote defaults: concurrency 10, timeout 60s, lookup false, cache 1024 / 1d / 1h, implicit TLS, verified certs', () => {
  const config = parseConfig(`${LISTENERS}\n[remote."mx"]\naddress = "imap.example"\nport = 993\nprotocol = "imap"\n`, 'test.toml');
  assert.deepEqual(config.remotes.mx, {
    id: 'mx',
    address: 'imap.example',
    port: 993,
    protocol: 'imap',
    concurrency: 10,
    timeout: 60_000,
    lookup: false,
    cache: { entries: 1024, positiveTtl: 86_400_000, negativeTtl: 3_600_000 },
    tls: { implicit: true, allowInvalidCerts: false },
  });
});

test('every key set explicitly is read', () => {
  const config = parseConfig(
    `[server]
hostname = "mx.example.org"
greeting = "hello"
control-socket = "/run/postern/control.sock"
[server.workers]
threads = 3
max-queue = 50
[server.tls]
enable = true
implicit = false
certificate = "main"
[certificate."main"]
cert = "file://certs/main.pem"
private-key = "file:///etc/postern/main.key"
[certificate."other"]
cert = "other.pem"
private-key = "other.key"
[server.listener."submission"]
bind = ["127.0.0.1:5587", "[::1]:5587"]
[server.listener."submissions"]
bind = "0.0.0.0:0"
hostname = "submit.example.org"
greeting = "tls only"
tls.implicit = true
tls.certificate = "other"
[server.listener."plain"]
bind = "127.0.0.1:2525"
tls.enable = false
[server.listener."metrics"]
bind = "127.0.0.1:9464"
protocol = "http"
[queue]
path = "/var/spool/postern"
[session.data.limits]
size = 1000
[remote."imap"]
address = "127.0.0.1"
port = 143
protocol = "imap"
concurrency = 2
timeout = "500ms"
lookup = true
cache.entries = 0
cache.ttl.positive = "10m"
cache.ttl.negative = 30000
tls.implicit = false
tls.allow-invalid-certs = true
`,
    'full.toml',
  );
  assert.deepEqual(config.server, {
    hostname: 'mx.example.org',
    greeting: 'hello',
    controlSocket: '/run/postern/control.sock',
    workers: { threads: 3, maxQueue: 50 },
  });
  const [submission, submissions, plain, metrics] = config.listeners;
  const main = { id: 'main', cert: 'certs/main.pem', privateKey: '/etc/postern/main.key' };
  assert.deepEqual(submission, {
    id: 'submission',
    bind: [{ host: '127.0.0.1', port: 5587 }, { host: '::1', port: 5587 }],
    protocol: 'smtp',
    hostname: 'mx.example.org',
    greeting: 'hello',
    tls: { enable: true, implicit: false, certificate: main },
    proxy: { trustedNetworks: [] },
  });
  assert.deepEqual(submissions, {
    id: 'submissions',
    bind: [{ host: '0.0.0.0', port: 0 }],
    protocol: 'smtp',
    hostname: 'submit.example.org',
    greeting: 'tls only',
    tls: { enable: true, implicit: true, certificate: { id: 'other', cert: 'other.pem', privateKey: 'other.key' } },
    proxy: { trustedNetworks: [] },
  });
  assert.deepEqual(plain?.tls, { enable: false, implicit: false, certificate: null });
  assert.equal(metrics?.protocol, 'http');
  assert.deepEqual(metrics?.tls, { enable: false, implicit: false, certificate: null }, 'metrics are plain HTTP');
  assert.deepEqual(config.queue, { path: '/var/spool/postern' });
  assert.deepEqual(config.data, { maxSize: 1000 });
  assert.deepEqual(config.remotes.imap?.cache, { entries: 0, positiveTtl: 600_000, negativeTtl: 30_000 });
  assert.equal(config.remotes.imap?.timeout, 500);
  assert.equal(config.remotes.imap?.concurrency, 2);
  assert.deepEqual(config.remotes.imap?.tls, { implicit: false, allowInvalidCerts: true });
  assert.deepEqual(config.warnings, []);
});

test('a TLS listener that says nothing about implicit gets implicit TLS (Stalwart\'s default)', () => {
  const config = parseConfig(
    `[server.tls]\nenable = true\ncertificate = "c"\n[certificate."c"]\ncert = "file://c.pem"\nprivate-key = "file://c.key"\n${LISTENERS}`,
    'test.toml',
  );
  assert.equal(config.listeners[0]?.tls.implicit, true);
});

test('mechanisms are case-insensitive and deduplicated; all four are known', () => {
  const config = parseConfig(`${LISTENERS}\n[session.auth]\nmechanisms = ["Plain", "LOGIN", "oauthBearer", "xoauth2", "plain"]\n`, 'test.toml');
  assert.deepEqual(config.auth.mechanisms.otherwise, ['PLAIN', 'LOGIN', 'OAUTHBEARER', 'XOAUTH2']);
  const single = parseConfig(`${LISTENERS}\n[session.auth]\nmechanisms = "login"\n`, 'test.toml');
  assert.deepEqual(single.auth.mechanisms.otherwise, ['LOGIN'], 'a single name is a one-element list');
});

test('lookup: false, "", "disable", "disabled", "never" and 0 all mean none; directory/<id> and remote/<id> resolve', () => {
  for (const none of ['false', '""', '"disable"', '"Disabled"', '"never"', '0']) {
    const config = parseConfig(`${LISTENERS}\n[session.auth]\nlookup = ${none}\n`, 'test.toml');
    assert.equal(config.auth.lookup.otherwise, null, none);
  }
  const config = parseConfig(
    `${LISTENERS}
[session.auth]
lookup = [ { if = "listener", eq = "smtp", then = "directory/local" }, { else = "remote/imap" } ]
[directory."local"]
type = "memory"
[[directory."local".users]]
name = "u"
secret = "$2b$10$abcdefghijklmnopqrstuu5.RDwGEnyE4IKxq2SLqU2Um0/GzXPe2"
[remote."imap"]
address = "127.0.0.1"
port = 993
protocol = "imap"
lookup = true
`,
    'test.toml',
  );
  assert.equal(resolveAuthSettings(config.auth, sessionVars({ listener: 'smtp' })).lookup, 'directory/local');
  assert.equal(resolveAuthSettings(config.auth, sessionVars({ listener: 'submission' })).lookup, 'remote/imap');
});

test('errors.max (the name Stalwart\'s code reads) works; errors.total wins when both are set, with a warning', () => {
  const max = parseConfig(`${LISTENERS}\n[session.auth.errors]\nmax = 7\n`, 'test.toml');
  assert.equal(max.auth.errorsTotal.otherwise, 7);
  assert.deepEqual(max.warnings, []);
  const toml = `[session.auth.errors]\ntotal = 5\nmax = 7\n${LISTENERS}`;
  const both = parseConfig(toml, 'test.toml');
  assert.equal(both.auth.errorsTotal.otherwise, 5);
  const at = where(toml, 'max');
  assert.deepEqual(both.warnings, [`test.toml:${at.line}:${at.column}: session.auth.errors.max: ignored: errors.total is set (errors.max is its old name)`]);
});

test('a memory directory: users, e-mail as string or list, plaintext secrets warned about at their position', () => {
  const toml = `${LISTENERS}
[directory."local"]
type = "memory"
[[directory."local".users]]
name = "alice"
secret = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
email = ["alice@example.org", "a@example.org"]
[[directory."local".users]]
name = "bob"
secret = "hunter2"
email = "bob@example.org"
[[directory."local".users]]
name = "carol"
secret = "$6$rounds=5000$salt$hash"
`;
  const config = parseConfig(toml, 'test.toml');
  assert.deepEqual(config.directories.local, {
    id: 'local',
    type: 'memory',
    users: [
      { name: 'alice', secret: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA', email: ['alice@example.org', 'a@example.org'] },
      { name: 'bob', secret: 'hunter2', email: ['bob@example.org'] },
      { name: 'carol', secret: '$6$rounds=5000$salt$hash', email: [] },
    ],
  });
  const at = where(toml, 'secret = "hunter2"');
  assert.deepEqual(config.warnings, [`test.toml:${at.line}:${at.column}: directory.local.users.1.secret: plaintext secret; store a hash instead (postern hash-password)`]);
  assert.ok(!config.warnings.join('').includes('hunter2'), 'the warning never shows the secret');
});

test('keys nobody reads produce "unknown key" warnings at their position (typos show)', () => {
  const toml = `[session.auth]
mechanism = ["plain"]
[session.auht]
require = true
[remote."imap"]
address = "127.0.0.1"
port = 993
protocol = "imap"
tls = { implicit = true, allow-invalid-cert = true }
[server.listener."smtp"]
bind = "127.0.0.1:0"
tls.enabel = true
`;
  const config = parseConfig(toml, 'test.toml');
  const expected = [
    ['session.auth.mechanism', 'mechanism'],
    ['session.auht', '[session.auht]'],
    ['remote.imap.tls.allow-invalid-cert', 'allow-invalid-cert'],
    ['server.listener.smtp.tls.enabel', 'enabel'],
  ].map(([key, needle]) => {
    const at = where(toml, needle ?? '');
    return `test.toml:${at.line}:${at.column}: ${key}: unknown key (nothing reads it; a typo?)`;
  });
  assert.deepEqual(config.warnings, expected);
  assert.equal(config.auth.mechanisms.otherwise.length, 0, 'the misspelt key had no effect');
});

test('config/postern.toml (the embedded default) loads without problems or warnings', async () => {
  const config = loadConfigFile(repoFile('config/postern.toml'));
  assert.deepEqual(config.warnings, []);
  assert.equal(config.server.hostname, 'localhost');
  assert.deepEqual(
    config.listeners.map((l) => [l.id, l.protocol, l.bind, l.tls.enable && (l.tls.implicit ? 'implicit' : 'starttls')]),
    [
      ['smtp', 'smtp', [{ host: '127.0.0.1', port: 2525 }], 'starttls'],
      ['submission', 'smtp', [{ host: '127.0.0.1', port: 5587 }], 'starttls'],
      ['metrics', 'http', [{ host: '127.0.0.1', port: 9464 }], false],
    ],
  );
  assert.deepEqual(config.listeners[1]?.tls.certificate, { id: 'default', cert: 'data/certs/postern.crt', privateKey: 'data/certs/postern.key' });
  assert.deepEqual(settings(config, 'smtp'), { mechanisms: [], lookup: null, require: false, errorsTotal: 3, errorsWait: 5_000 });
  assert.deepEqual(settings(config, 'submission'), { mechanisms: ['PLAIN', 'LOGIN'], lookup: 'directory/local', require: true, errorsTotal: 3, errorsWait: 5_000 });
  assert.equal(config.queue.path, './data/queue');
  const [demo, ...others] = config.directories.local?.users ?? [];
  assert.equal(others.length, 0);
  assert.equal(demo?.name, 'demo');
  assert.deepEqual(demo?.email, ['demo@example.org']);
  assert.match(demo?.secret ?? '', /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  assert.equal(await argon2Verify({ password: 'demo-password', hash: demo?.secret ?? '' }), true, 'the password the comment promises');
});

test('config/stalwart-imap.toml loads without problems or warnings, with the seed\'s values', () => {
  const config = loadConfigFile(repoFile('config/stalwart-imap.toml'));
  assert.deepEqual(config.warnings, []);
  assertSeedRules(config, 'remote/imap');
  assert.deepEqual(
    config.listeners.map((l) => [l.id, l.bind[0]?.port, l.tls.implicit]),
    [
      ['smtp', 2525, false],
      ['submission', 5587, false],
      ['submissions', 5465, true],
    ],
  );
  assert.deepEqual(config.remotes.imap?.tls, { implicit: false, allowInvalidCerts: true });
  assert.equal(config.remotes.imap?.cache.entries, 1000);
});

test('loadConfigFile reads a file and names it in Config.source; an unreadable file is a ConfigError', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'postern-config-'));
  try {
    const file = join(dir, 'p.toml');
    await writeFile(file, LISTENERS);
    assert.equal(loadConfigFile(file).source, file);
    assert.throws(
      () => loadConfigFile(join(dir, 'missing.toml')),
      (err: unknown) => err instanceof ConfigError && err.problems.length === 1 && /cannot read the config file/.test(err.message),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
