// Typed events: one vocabulary feeds both the log and the metrics, so panel names and log lines agree.
// Emitters never carry a password, token or SASL payload; `user` appears only on auth events (logs),
// and metrics must never use it as a label.
import type { Mechanism } from './sasl/types.js';

export type AuthResult =
  | 'success'
  | 'bad_credentials'
  | 'temp_failure'
  | 'malformed'
  | 'cancelled'
  | 'too_long'
  | 'not_allowed';

export type TaskKind = 'sasl' | 'rules' | 'hash';

export type PosternEvent =
  | { type: 'session.connect'; sessionId: string; listener: string; remoteIp: string; secure: boolean }
  | { type: 'session.close'; sessionId: string; listener: string }
  | { type: 'session.tls'; sessionId: string; listener: string; ok: boolean; cipher?: string; reason?: string }
  | {
      type: 'auth.result';
      sessionId: string;
      listener: string;
      mechanism: Mechanism;
      result: AuthResult;
      /** The authcid the client claimed (logs only, never a metric label). */
      user?: string;
      seconds: number;
    }
  | { type: 'auth.too_many_errors'; sessionId: string; listener: string }
  | { type: 'message.queued'; sessionId: string; listener: string; id: string; bytes: number; user?: string }
  | { type: 'message.rejected'; sessionId: string; listener: string; reason: 'too_large' | 'spool_error' }
  | { type: 'lookup.check'; remote: string; result: 'ok' | 'bad' | 'tempfail'; seconds: number; reason?: string }
  | { type: 'lookup.cache'; remote: string; outcome: 'hit' | 'miss'; polarity?: 'positive' | 'negative' }
  | { type: 'lookup.join'; remote: string }
  | { type: 'lookup.evict'; remote: string; polarity: 'positive' | 'negative' }
  | { type: 'lookup.overflow'; remote: string }
  /** A queued check waited `timeout` for a connection and was answered 454 without running. */
  | { type: 'lookup.queue_timeout'; remote: string }
  | { type: 'pool.task'; kind: TaskKind; seconds: number; ok: boolean; threadId: number };

type Listener = (event: PosternEvent) => void;

/** A minimal synchronous bus. Listeners must not throw; a throwing listener is isolated. */
export class EventBus {
  readonly #listeners: Listener[] = [];

  on(listener: Listener): () => void {
    this.#listeners.push(listener);
    return () => {
      const i = this.#listeners.indexOf(listener);
      if (i >= 0) this.#listeners.splice(i, 1);
    };
  }

  emit(event: PosternEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // An observer's bug must not break a session.
      }
    }
  }
}
