// Waiting in tests and their peers: bounded waits on a state, never a guess at how long something takes.
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';

export interface PollOptions {
  /** How long to keep checking, in ms. */
  timeout?: number;
  /** Pause between checks, in ms. */
  every?: number;
}

/**
 * A fixed pause. Only for where a length of time is itself what is tested or needed (an expiry on the
 * real clock, "nothing arrives for N ms", a retry's back-off); say which at the call.
 */
export const sleep = (ms: number): Promise<void> => delay(ms);

/**
 * Checks at once, then every `every` ms, until `check` holds or `timeout` has passed; true if it held.
 * Never fails on a timeout: for callers that report what they saw themselves.
 */
export async function poll(check: () => boolean | Promise<boolean>, { timeout = 5_000, every = 20 }: PollOptions = {}): Promise<boolean> {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await delay(every);
  }
}

/**
 * Waits until `check` holds; fails with "timed out after N ms waiting for <what>" if it does not.
 * `what` may be a function, to describe the state as it was at the timeout.
 */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string | (() => string),
  options: PollOptions = {},
): Promise<void> {
  const timeout = options.timeout ?? 5_000;
  if (await poll(check, { ...options, timeout })) return;
  assert.fail(`timed out after ${timeout} ms waiting for ${typeof what === 'string' ? what : what()}`);
}

/** Awaits `promise`, failing with "<what> did not finish within N ms" instead of stalling the run. */
export async function within<T>(promise: Promise<T>, what: string, timeout = 15_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${timeout} ms`)), timeout);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
