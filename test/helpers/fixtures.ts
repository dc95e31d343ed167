// Config fixtures shared by the tests: listener tables and memory-directory users, as TOML text, and
// a remote's config as the loader builds it. A test's own rules stay written out in the test; only
// this boilerplate comes from here.
import type { RemoteConfig } from '../../src/config/types.js';

/** `smtp`: STARTTLS where [server.tls] is on; `implicit-tls`: TLS from the first byte; `http`: /metrics. */
export type ListenerKind = 'smtp' | 'implicit-tls' | 'http';

/** One `[server.listener."<id>"]` table per entry, in order, each bound to 127.0.0.1:0. */
export function listeners(spec: Record<string, ListenerKind>): string {
  const tables = Object.entries(spec).map(([id, kind]) => {
    const extra = kind === 'implicit-tls' ? 'tls.implicit = true\n' : kind === 'http' ? 'protocol = "http"\n' : '';
    return `[server.listener.${JSON.stringify(id)}]\nbind = ["127.0.0.1:0"]\n${extra}`;
  });
  return `\n${tables.join('')}`;
}

/**
 * Two SMTP listeners: the smallest config the rules can name listeners in. Config tests count lines
 * through it: a blank line, then four (two tables of two).
 */
export const LISTENERS = listeners({ smtp: 'smtp', submission: 'smtp' });

/** What a running test server listens on unless the test says otherwise. */
export const DEFAULT_LISTENERS = listeners({ smtp: 'smtp', submission: 'smtp', submissions: 'implicit-tls' });

export interface User {
  name: string;
  secret: string;
  email?: string[];
}

/** The user most SMTP tests log in as. */
export const ALICE: User = { name: 'alice', secret: 'alice-secret' };

/** `[directory."<id>"]`: a memory directory holding `users`. */
export function memoryDirectory(users: User[], id = 'local'): string {
  // A JSON string or list of strings is also a TOML basic string or array.
  const q = JSON.stringify;
  const entries = users.map(
    (user) => `[[directory.${q(id)}.users]]\nname = ${q(user.name)}\nsecret = ${q(user.secret)}\n${user.email ? `email = ${q(user.email)}\n` : ''}`,
  );
  return `\n[directory.${q(id)}]\ntype = "memory"\n${entries.join('')}`;
}

/**
 * `[remote."<id>"]` on a test Dovecot's implicit-TLS port, usable as `remote/<id>`. Its certificate is
 * the test's own, so it is not verified. `extra`: more keys of the table, one per line.
 */
export function imapsRemote(port: number, extra = '', id = 'imap'): string {
  return `\n[remote.${JSON.stringify(id)}]\naddress = "127.0.0.1"\nport = ${port}\nprotocol = "imap"\nlookup = true\ntimeout = "5s"\ntls.implicit = true\ntls.allow-invalid-certs = true\n${extra}`;
}

const DAY = 86_400_000;

/** `[remote."imap"]` on 127.0.0.1:`port` as the loader builds it: implicit TLS, self-signed certs allowed. */
export function remoteConfig(port: number, over: Partial<RemoteConfig> = {}, cache: Partial<RemoteConfig['cache']> = {}): RemoteConfig {
  return {
    id: 'imap',
    address: '127.0.0.1',
    port,
    protocol: 'imap',
    concurrency: 4,
    timeout: 10_000,
    lookup: true,
    cache: { entries: 100, positiveTtl: DAY, negativeTtl: DAY, ...cache },
    tls: { implicit: true, allowInvalidCerts: true },
    ...over,
  };
}
