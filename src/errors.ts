// Typed errors with stable codes. Wrong passwords are Verdicts (src/auth/verdict.ts), not errors.

export class PosternError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
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
  constructor(reason: string) {
    super('E_TEMPFAIL', reason);
  }
}

/** The spool could not store a message. */
export class SpoolError extends PosternError {
  constructor(reason: string) {
    super('E_SPOOL', reason);
  }
}
