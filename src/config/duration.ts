// The one duration parser: "100ms", "5s", "1m", "2h", "1d", or a bare number of milliseconds.
import type { Duration } from './types.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^\s*(\d+)\s*(ms|s|m|h|d)?\s*$/i;

/** Milliseconds. Throws a plain Error (the loader adds the key and position); zero is invalid, as in Stalwart. */
export function parseDuration(value: string | number): Duration {
  const match = typeof value === 'string' ? DURATION.exec(value) : null;
  const ms =
    typeof value === 'number'
      ? value
      : match !== null
        ? Number(match[1]) * (UNIT_MS[(match[2] ?? 'ms').toLowerCase()] ?? Number.NaN)
        : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
    throw new Error(`invalid duration ${shown}: expected a positive integer with ms, s, m, h or d (bare numbers are ms)`);
  }
  return ms;
}
