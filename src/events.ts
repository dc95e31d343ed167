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

/** Why a task never ran to an answer on a worker. */
export type PoolRefusal = 'queue_full' | 'closed' | 'worker_failed';

/** What a trusted peer's PROXY protocol header said: a client (`proxied`), or keep the peer's own address. */
export type ProxyResult = 'proxied' | 'local';
/** Why a trusted peer's connection was closed before its session: no valid header, none in time, or it hung up first. */
export type ProxyRefusal = 'malformed' | 'timeout' | 'truncated';

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
      /** Why, for a failure that is not a plain wrong password (never a secret): an IMAP fault, a pool refusal… */
      reason?: string;
    }
  | { type: 'auth.too_many_errors'; sessionId: string; listener: string }
  | { type: 'message.queued'; sessionId: string; listener: string; id: string; bytes: number; user?: string }
  | {
      type: 'message.rejected';
      sessionId: string;
      listener: string;
      reason: 'too_large' | 'spool_error';
      /** The fault behind a spool_error, e.g. "ENOSPC: no space left on device, write". */
      cause?: string;
    }
  | { type: 'lookup.check'; remote: string; result: 'ok' | 'bad' | 'tempfail'; seconds: number; reason?: string }
  | { type: 'lookup.cache'; remote: string; outcome: 'hit'; polarity: 'positive' | 'negative' }
  | { type: 'lookup.cache'; remote: string; outcome: 'miss' }
  | { type: 'lookup.join'; remote: string }
  | { type: 'lookup.evict'; remote: string; polarity: 'positive' | 'negative' }
  | { type: 'lookup.overflow'; remote: string }
  /** A queued check waited `timeout` for a connection and was answered 454 without running. */
  | { type: 'lookup.queue_timeout'; remote: string }
  /** A task that ran on a worker (`ok` = it returned rather than threw). */
  | { type: 'pool.task'; kind: TaskKind; seconds: number; ok: boolean; threadId: number }
  /** A task that never ran to an answer: the queue was full, the pool closing, or its worker died. */
  | { type: 'pool.refused'; kind: TaskKind; reason: PoolRefusal }
  /** A trusted peer's PROXY header: `remoteIp` is the session's address from here on. */
  | { type: 'proxy.header'; listener: string; peerIp: string; version: 1 | 2; result: 'proxied'; remoteIp: string }
  /** `why`: a v2 LOCAL (the balancer's health check), v1 UNKNOWN or v2 without an IP family, or a Unix socket. */
  | { type: 'proxy.header'; listener: string; peerIp: string; version: 1 | 2; result: 'local'; why: 'local' | 'unknown' | 'unix'; remoteIp: string }
  | { type: 'proxy.refused'; listener: string; peerIp: string; reason: 'malformed'; detail: string }
  /** `received`: the bytes of a header that had come when the wait ended. */
  | { type: 'proxy.refused'; listener: string; peerIp: string; reason: 'timeout' | 'truncated'; received: number }
  /** A config generation serves new sessions from now on; `seconds` it took to build (pool, backends, certificates). */
  | { type: 'generation.started'; generation: number; seconds: number }
  /**
   * A reload (SIGHUP, `postern reload`) of `source`: `ok` = generation `generation` serves new sessions;
   * `error` = refused for `problems` problems (each logged on its own line), generation `generation` stays.
   */
  | { type: 'config.reload'; source: string; result: 'ok' | 'error'; generation: number; problems: number };

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
