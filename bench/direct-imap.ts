// The cold path's yardstick: the same number of IMAP logins Postern makes, made straight to Dovecot
// by `concurrency` stock imapflow clients (STARTTLS, verifyOnly: imapflow's own session, with its
// CAPABILITY, ID, AUTHENTICATE, ID, NAMESPACE and LOGOUT each waited for).
import { ImapFlow } from 'imapflow';
import { performance } from 'node:perf_hooks';
import type { Credential } from './load.js';
import { percentile, Samples } from './stats.js';

export interface DirectLoginResult {
  logins: number;
  failed: number;
  elapsedMs: number;
  loginsPerSecond: number;
  /** connect() to its end (the whole login), over the successful ones, in milliseconds. */
  loginLatencyMs: { p50: number; p99: number };
}

export async function directLogins(o: {
  host: string;
  port: number;
  users: Credential[];
  count: number;
  concurrency: number;
  durationMs: number;
}): Promise<DirectLoginResult> {
  let next = 0;
  let logins = 0;
  let failed = 0;
  const latencies = new Samples();
  const start = performance.now();
  const deadline = start + o.durationMs;
  const client = async (): Promise<void> => {
    while (next < o.count && performance.now() < deadline) {
      const user = o.users[next++ % o.users.length] as Credential;
      const imap = new ImapFlow({
        host: o.host,
        port: o.port,
        secure: false,
        doSTARTTLS: true,
        tls: { rejectUnauthorized: false },
        auth: { user: user.user, pass: user.password },
        verifyOnly: true,
        disableCompression: true,
        disableAutoIdle: true,
        logger: false,
        connectionTimeout: 10_000,
        greetingTimeout: 10_000,
        socketTimeout: 10_000,
      });
      imap.on('error', () => {});
      const started = performance.now();
      try {
        await imap.connect();
        latencies.push(performance.now() - started);
        logins++;
      } catch {
        failed++;
      } finally {
        imap.close();
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, client));
  const elapsedMs = performance.now() - start;
  const sorted = latencies.sorted();
  return {
    logins,
    failed,
    elapsedMs,
    loginsPerSecond: logins / (elapsedMs / 1000),
    loginLatencyMs: { p50: percentile(sorted, 50), p99: percentile(sorted, 99) },
  };
}
