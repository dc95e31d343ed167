// Typed, validated configuration. Produced once by the loader; everything else reads only these.
import type { Mechanism } from '../sasl/types.js';

/** Milliseconds. */
export type Duration = number;

/** Variables known from the connection on: all a `session.auth.*` rule may test. `helo-domain` is '' until EHLO/HELO. */
export type SessionVariable = 'listener' | 'remote-ip' | 'local-ip' | 'helo-domain';
/** Variables known once the transaction has them (MAIL, RCPT), for the keys that are evaluated then. */
export type EnvelopeVariable = 'authenticated-as' | 'sender' | 'sender-domain' | 'rcpt' | 'rcpt-domain';
export type Variable = SessionVariable | EnvelopeVariable;
export type SessionVars = Record<SessionVariable, string>;
/** The variables known where a rule is evaluated; one not known (yet) reads as ''. */
export type Vars = Partial<Record<Variable, string>>;

export const SESSION_VARIABLES: readonly SessionVariable[] = ['listener', 'remote-ip', 'local-ip', 'helo-domain'];

/** An IP network: address bytes (4 or 16) and prefix length. Plain data, structured-clone safe. */
export interface Network {
  family: 4 | 6;
  bytes: number[];
  prefix: number;
}

/** A compiled condition. Plain data: crosses the Piscina boundary by structured clone. */
export type Condition =
  | { kind: 'ip'; variable: Variable; negate: boolean; networks: Network[] }
  | { kind: 'eq'; variable: Variable; negate: boolean; value: string }
  | { kind: 'in-list'; variable: Variable; negate: boolean; values: string[] }
  | { kind: 'starts-with' | 'ends-with'; variable: Variable; negate: boolean; value: string }
  | { kind: 'matches'; variable: Variable; negate: boolean; pattern: string; flags: string }
  | { kind: 'any-of' | 'all-of' | 'none-of'; conditions: Condition[] };

/** An if-block: first matching branch wins, else `otherwise`. A plain value compiles to no branches. */
export interface Rule<T> {
  branches: { when: Condition; then: T }[];
  otherwise: T;
}

/** Rules of other sections by config key (e.g. "queue.outbound.next-hop"), for the pool's `evaluate` task. */
export type NamedRules = Record<string, Rule<unknown>>;

/** `[session.auth]`, compiled. */
export interface AuthRules {
  mechanisms: Rule<Mechanism[]>;
  /** "remote/<id>" | "directory/<id>" | null (no lookup). */
  lookup: Rule<string | null>;
  require: Rule<boolean>;
  errorsTotal: Rule<number>;
  errorsWait: Rule<Duration>;
}

/** What the rules resolve to for one session. */
export interface SessionAuthSettings {
  mechanisms: Mechanism[];
  lookup: string | null;
  require: boolean;
  errorsTotal: number;
  errorsWait: Duration;
}

export interface BindAddress {
  host: string;
  port: number;
}

export interface CertificateConfig {
  id: string;
  /** Filesystem paths (the `file://` prefix removed), relative to the working directory. */
  cert: string;
  privateKey: string;
}

export interface ListenerConfig {
  id: string;
  bind: BindAddress[];
  protocol: 'smtp' | 'http';
  hostname: string;
  greeting: string;
  tls: {
    enable: boolean;
    implicit: boolean;
    /** Resolved certificate, null when TLS is disabled. */
    certificate: CertificateConfig | null;
  };
  /** Peers that must open with a PROXY protocol header (empty: none; always empty on http listeners). */
  proxy: { trustedNetworks: Network[] };
}

export interface RemoteConfig {
  id: string;
  address: string;
  port: number;
  protocol: 'imap';
  concurrency: number;
  timeout: Duration;
  lookup: boolean;
  cache: { entries: number; positiveTtl: Duration; negativeTtl: Duration };
  tls: { implicit: boolean; allowInvalidCerts: boolean };
}

export interface DirectoryUser {
  name: string;
  /** `$argon2id$…`, `$2b$…`, `$6$…`, or plaintext (warned about at load). */
  secret: string;
  email: string[];
}

export interface DirectoryConfig {
  id: string;
  type: 'memory';
  users: DirectoryUser[];
}

export interface Config {
  /** Path of the file this was loaded from (or "<embedded>"). */
  source: string;
  server: {
    hostname: string;
    greeting: string;
    /** `server.control-socket`: where the CLI reaches the running server; null = none. */
    controlSocket: string | null;
    workers: { threads: number; maxQueue: number };
  };
  listeners: ListenerConfig[];
  auth: AuthRules;
  /** Every other rule-capable key, compiled, by its dotted key. */
  rules: NamedRules;
  remotes: Record<string, RemoteConfig>;
  directories: Record<string, DirectoryConfig>;
  queue: { path: string };
  /** `session.data.limits.size` in bytes. */
  data: { maxSize: number };
  /** Non-fatal findings (unread keys, plaintext secrets), each "FILE:LINE:COLUMN: message". */
  warnings: string[];
}
