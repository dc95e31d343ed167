// A wrong password is a value, not an exception: infrastructure faults are the only tempfail.
import type { Credentials } from '../sasl/types.js';

export type Verdict =
  | { kind: 'ok'; user: string }
  | { kind: 'bad' }
  | { kind: 'tempfail'; reason: string };

/** Anything `session.auth.lookup` can name: "directory/<id>" or "remote/<id>". */
export interface Verifier {
  verify(credentials: Credentials): Promise<Verdict>;
  close(): Promise<void>;
}
