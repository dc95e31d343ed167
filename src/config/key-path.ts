// Where a value sits in the TOML tree: table keys and array indices, e.g. ["session","auth","mechanisms",0,"then"].
export type KeyPath = readonly (string | number)[];

/** A Map key for a path (NUL cannot appear in a TOML key unescaped, and never in ours). */
export function pathId(path: KeyPath): string {
  return path.join('\u0000');
}

/** Dotted, Stalwart-style ("session.auth.mechanisms.0.then"); keys that aren't bare TOML keys are quoted. */
export function formatKey(path: KeyPath): string {
  return path.map((k) => (typeof k === 'number' || /^[A-Za-z0-9_-]+$/.test(k) ? String(k) : JSON.stringify(k))).join('.');
}
