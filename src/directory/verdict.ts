// The directory backends' common floor: what a credential check answers, and the interface every
// backend ("directory/<id>" memory users, "remote/<id>" IMAP lookups) implements. A wrong password is
// a value, not an exception: infrastructure faults are the only tempfail.
import type { Credentials } from '../sasl/types.js';

export type Verdict =
  | { kind: 'ok'; user: string }
  | { kind: 'bad' }
  | { kind: 'tempfail'; reason: string };

/** Who is asking, as far as a verifier may use it (never part of a cache key). */
export interface ClientInfo {
  remoteIp: string;
}

/** A remote backend's queue, connections and cache, read at scrape time. */
export interface LookupStats {
  queued: number;
  open: number;
  concurrency: number;
  positive: number;
  negative: number;
}

/** Anything `session.auth.lookup` can name. */
export interface Verifier {
  /** "directory/<id>" or "remote/<id>": the name rules use. */
  readonly path: string;
  verify(credentials: Credentials, client?: ClientInfo): Promise<Verdict>;
  /** Queue, connection and cache figures, for backends that have them (remote lookups); null otherwise. */
  stats(): LookupStats | null;
  close(): Promise<void>;
}

/** "remote/imap" → { kind: "remote", id: "imap" }. */
export function parsePath(path: string): { kind: string; id: string } {
  const [kind = '', id = ''] = path.split(/\/(.*)/s);
  return { kind, id };
}
