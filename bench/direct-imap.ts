// The cold path's yardstick: the same number of IMAP logins Postern makes, made straight to Dovecot
// by `concurrency` imapflow clients with the options Postern's lookup uses (STARTTLS, verifyOnly:
// connect, LOGIN, LOGOUT).
import { ImapFlow } from 'imapflow';
import { performance } from 'node:perf_hooks';
import type { Credential } from './load.js';

export interface DirectLoginResult {
  logins: number;
  failed: number;
  elapsedMs: number;
  loginsPerSecond: number;
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
      try {
        await imap.connect();
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
  return { logins, failed, elapsedMs, loginsPerSecond: logins / (elapsedMs / 1000) };
}
