// A wrong password is a value, not an exception: infrastructure faults are the only tempfail.
import type { Credentials } from '../sasl/types.js';

export type Verdict =
  | { kind: 'ok'; user: string }
  | { kind: 'bad' }
  | { kind: 'tempfail'; reason: string };

/** Who is asking, as far as a verifier may use it (never part of a cache key). */
export interface ClientInfo {
  remoteIp: string;
}

/** Anything `session.auth.lookup` can name: "directory/<id>" or "remote/<id>". */
export interface Verifier {
  verify(credentials: Credentials, client?: ClientInfo): Promise<Verdict>;
  close(): Promise<void>;
}
