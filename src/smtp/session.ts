// Per-connection state shared by the stages, and the services they call.
import type { Verifier } from '../auth/verdict.js';
import type { ListenerConfig, SessionAuthSettings, SessionVars } from '../config/types.js';
import type { EventBus } from '../events.js';
import type { Mechanism, SaslStep } from '../sasl/types.js';
import type { Spool } from '../spool/spool.js';
import type { SettingsResolver } from './settings.js';

/** What the session needs from the worker pool (src/pool.ts implements it). */
export interface SessionPool {
  resolveSession(vars: SessionVars): Promise<SessionAuthSettings>;
  mechanisms(vars: SessionVars): Promise<Mechanism[]>;
  decodeSasl(mechanism: Mechanism, lines: string[]): Promise<SaslStep>;
}

export interface SessionServices {
  pool: SessionPool;
  /** Connect-time settings (lookup, require, errors.*, mechanisms before EHLO). */
  settings: SettingsResolver;
  /** Keyed by lookup path: "directory/<id>", "remote/<id>". */
  verifiers: ReadonlyMap<string, Verifier>;
  events: EventBus;
  spool: Spool;
  /** `session.data.limits.size`. */
  maxMessageSize: number;
  /**
   * Whether the mechanisms rule tests helo-domain. If not, the value resolved at connect holds for the
   * whole session and EHLO/AUTH skip a worker round trip.
   */
  mechanismsFollowHelo: boolean;
}

export interface SessionContext {
  readonly id: string;
  readonly listener: ListenerConfig;
  readonly vars: SessionVars;
  /** Resolved at connect and shared by sessions alike in what the rules test: never mutated. */
  readonly settings: Readonly<SessionAuthSettings>;
  /** Counted AUTH failures; lives on the connection, so STARTTLS does not reset it. */
  authErrors: number;
}

/** `session.auth.mechanisms` for the session as it stands (re-evaluated in a worker once helo-domain matters). */
export function ruledMechanisms(ctx: SessionContext, services: SessionServices): Promise<Mechanism[]> {
  return services.mechanismsFollowHelo ? services.pool.mechanisms(ctx.vars) : Promise.resolve(ctx.settings.mechanisms);
}

/** Mechanisms a client may use now: PLAIN and LOGIN never on plaintext, nothing without a lookup. */
export function usableMechanisms(ruled: Mechanism[], ctx: SessionContext, secure: boolean): Mechanism[] {
  if (ctx.settings.lookup === null) return [];
  return secure ? ruled : ruled.filter((m) => m !== 'PLAIN' && m !== 'LOGIN');
}
