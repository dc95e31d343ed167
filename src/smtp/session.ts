// Per-connection state shared by the stages, and the services they call. The services are the
// connection's config generation: a session keeps the ones it connected with to its end.
import type { ListenerConfig, SessionAuthSettings, SessionVars } from '../config/types.js';
import type { Verifier } from '../directory/verdict.js';
import type { EventBus } from '../events.js';
import type { Mechanism, SaslStep } from '../sasl/types.js';
import type { RuleEvaluator } from '../pool/remembered.js';
import type { Spool } from '../spool/spool.js';

/** What the session needs from the worker pool (src/pool/pool.ts implements it). */
export interface SessionPool {
  resolveSession(vars: SessionVars): Promise<SessionAuthSettings>;
  mechanisms(vars: SessionVars): Promise<Mechanism[]>;
  decodeSasl(mechanism: Mechanism, lines: string[]): Promise<SaslStep>;
}

/** Connect-time settings (src/smtp/settings.ts remembers them per distinct input). */
export interface SettingsSource {
  resolve(vars: SessionVars): Promise<SessionAuthSettings>;
}

export interface SessionServices {
  pool: SessionPool;
  /** Connect-time settings (lookup, require, errors.*, mechanisms before EHLO). */
  settings: SettingsSource;
  /** The config's other rules (Config.rules), evaluated in the pool as their variables become known. */
  rules: RuleEvaluator;
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
  /** Under TLS now: implicit, or since STARTTLS. */
  readonly secure: boolean;
  /** The authenticated login, null before a successful AUTH. */
  readonly user: string | null;
}

/** `session.auth.mechanisms` for the session as it stands (re-evaluated in a worker once helo-domain matters). */
export function ruledMechanisms(ctx: SessionContext, services: SessionServices): Promise<Mechanism[]> {
  return services.mechanismsFollowHelo ? services.pool.mechanisms(ctx.vars) : Promise.resolve(ctx.settings.mechanisms);
}

/** Mechanisms a client may use now: PLAIN and LOGIN never on plaintext, nothing without a lookup. */
export function usableMechanisms(ruled: Mechanism[], ctx: SessionContext): Mechanism[] {
  if (ctx.settings.lookup === null) return [];
  return ctx.secure ? ruled : ruled.filter((m) => m !== 'PLAIN' && m !== 'LOGIN');
}
