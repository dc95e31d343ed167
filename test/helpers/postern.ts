// Starts the whole server in-process from a TOML string, capturing its log lines.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfigFile, parseConfig } from '../../src/config/load.js';
import { EventBus, type PosternEvent } from '../../src/events.js';
import { createLogger } from '../../src/log.js';
import { startPostern as start, type RunningPostern } from '../../src/runtime/postern.js';
import { makeCertificate, type TestCertificate } from './certs.js';
import { DEFAULT_LISTENERS } from './fixtures.js';

export interface TestPostern {
  port(listenerId: string): number;
  close(): Promise<void>;
  events: EventBus;
  /** Every event emitted so far. */
  seen: PosternEvent[];
  /** Every log line written so far (JSON text). */
  logs: string[];
  running: RunningPostern;
}

/** A scratch directory with a real certificate, for a test's TOML to point at. */
export async function scratch(): Promise<{ dir: string; cert: TestCertificate }> {
  const dir = await mkdtemp(join(tmpdir(), 'postern-test-'));
  return { dir, cert: await makeCertificate(dir) };
}

export interface StartOptions {
  /** Writes the TOML to this file and loads it from there, so `running.reload()` re-reads it. */
  file?: string;
}

export async function startPostern(toml: string, options: StartOptions = {}): Promise<TestPostern> {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  if (options.file !== undefined) await writeFile(options.file, toml);
  const config = options.file === undefined ? parseConfig(toml, 'test.toml') : loadConfigFile(options.file);
  // Listening from the start: the first generation's build emits events too.
  const events = new EventBus();
  const seen: PosternEvent[] = [];
  events.on((event) => seen.push(event));
  const running = await start(config, { logger: createLogger(sink, 'debug'), events });
  return {
    port: (id) => running.address(id).port,
    close: () => running.close(1_000),
    events: running.events,
    seen,
    logs,
    running,
  };
}

export interface BasicsOptions {
  /** [server.listener] tables; DEFAULT_LISTENERS unless given. */
  listeners?: string;
  /** [server.workers] threads; 2 unless given. */
  threads?: number;
  /** [server.workers] max-queue; the server's default unless given. */
  maxQueue?: number;
}

/** A server/workers/TLS/queue/listener preamble for test configs; the test appends its own sections. */
export function basics(dir: string, cert: TestCertificate, options: BasicsOptions = {}): string {
  const { listeners = DEFAULT_LISTENERS, threads = 2, maxQueue } = options;
  return `
[server]
hostname = "mx.test"
greeting = "Postern test"
control-socket = "${join(dir, 'postern.sock')}"
[server.workers]
threads = ${threads}
${maxQueue === undefined ? '' : `max-queue = ${maxQueue}\n`}[server.tls]
enable = true
implicit = false
certificate = "default"
[certificate."default"]
cert = "file://${cert.cert}"
private-key = "file://${cert.key}"
[queue]
path = "${join(dir, 'queue')}"
${listeners}
`;
}

/**
 * A real peer that accepts and hangs up at once, declared as `[remote."<id>"]`: every IMAP check
 * against it fails as infrastructure (454), never as a wrong password.
 */
export async function startDeadRemote(id = 'down'): Promise<{ toml: string; close(): void }> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    toml: `
[remote."${id}"]
address = "127.0.0.1"
port = ${port}
protocol = "imap"
lookup = true
timeout = "2s"
`,
    close: () => server.close(),
  };
}
