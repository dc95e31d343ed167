// The remote IMAP server of the cold-path measurements: one Dovecot with the same settings for every
// system, reached through one latency proxy whose round-trip time the bench sets per phase, so the
// systems see the same server at the same distance and the proxy counts their client turns.
import { startDovecot, type RunningDovecot } from '../test/helpers/dovecot.js';
import { startLatencyProxy, type LatencyProxy } from '../test/helpers/latency-proxy.js';
import type { Credential } from './load.js';

/**
 * Login and mail processes kept and reused instead of one started per connection. With Dovecot's
 * defaults every login costs a fork+exec of imap-login and of imap, and the server manages ~18
 * logins/s here — the remote, not the systems under test, would be what is measured. With these
 * ~75–80/s (10 concurrent STARTTLS logins). The bench users all map to one uid, so imap processes
 * can serve one user after another.
 */
export const REMOTE_SETTINGS = `
service imap-login {
  service_count = 0
  process_min_avail = 2
}
service imap {
  service_count = 0
  process_min_avail = 4
}
`;

export interface Remote {
  dovecot: RunningDovecot;
  host: string;
  /** The proxies in front of Dovecot's STARTTLS and implicit-TLS ports: where the systems connect. */
  starttls: LatencyProxy;
  implicit: LatencyProxy;
  /** Sets the round-trip time both proxies add. */
  setRtt(ms: number): void;
  stop(): Promise<void>;
}

export async function startRemote(users: Credential[]): Promise<Remote> {
  const dovecot = await startDovecot({ users: Object.fromEntries(users.map((u) => [u.user, u.password])), extraConf: REMOTE_SETTINGS });
  const starttls = await startLatencyProxy({ targetPort: dovecot.imapPort, rttMs: 0 });
  const implicit = await startLatencyProxy({ targetPort: dovecot.imapsPort, rttMs: 0 });
  return {
    dovecot,
    host: '127.0.0.1',
    starttls,
    implicit,
    setRtt: (ms) => {
      starttls.setRtt(ms);
      implicit.setRtt(ms);
    },
    stop: async () => {
      await starttls.stop();
      await implicit.stop();
      await dovecot.stop();
    },
  };
}
