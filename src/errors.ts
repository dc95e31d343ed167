// Typed errors with stable codes. Wrong passwords are Verdicts (src/directory/verdict.ts), not errors.

export class PosternError extends Error {
  constructor(
    readonly code: string,
    message: string,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
  }
}

/**
 * One line for a log field: the error's code and message, then its causes' (an ENOSPC under a
 * SpoolError, a Piscina fault under a TempFailure). Messages here never hold a secret: no error in
 * Postern is built from a password, token or SASL payload.
 */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error, depth = 0; e !== undefined && depth < 4; depth++) {
    if (e instanceof Error) {
      const code = (e as { code?: unknown }).code;
      parts.push(typeof code === 'string' && !e.message.startsWith(code) ? `${code}: ${e.message}` : e.message);
      e = e.cause;
    } else {
      parts.push(String(e));
      break;
    }
  }
  return parts.join(' ← ');
}

/** One config problem; `line`/`column` are 1-based where the TOML gives a position. */
export interface ConfigProblem {
  file: string;
  key: string;
  message: string;
  line?: number;
  column?: number;
}

export function formatProblem(p: ConfigProblem): string {
  const where = p.line !== undefined ? `${p.file}:${p.line}:${p.column ?? 1}` : p.file;
  return `${where}: ${p.key ? `${p.key}: ` : ''}${p.message}`;
}

/** Every problem found while loading a config; the server refuses to start on any. */
export class ConfigError extends PosternError {
  constructor(readonly problems: ConfigProblem[]) {
    super('E_CONFIG', problems.map(formatProblem).join('\n'));
  }
}

/** The credential check could not be completed (IMAP down, timeout, queue full, bad answer). */
export class TempFailure extends PosternError {
  constructor(reason: string, cause?: unknown) {
    super('E_TEMPFAIL', reason, cause);
  }
}

/** The spool could not store a message. */
export class SpoolError extends PosternError {
  constructor(reason: string, cause?: unknown) {
    super('E_SPOOL', reason, cause);
  }
}
