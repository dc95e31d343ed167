// The load generator: C concurrent SMTP clients over loopback, each repeating
// connect → EHLO → [STARTTLS → EHLO] → AUTH PLAIN → QUIT until a session count or a deadline is
// reached, whichever comes first. It runs in the bench's own process, on the same cores as the
// server under test.
import { performance } from 'node:perf_hooks';
import { percentile, Samples } from './stats.js';
import { authPlain, Conversation, type Reply } from './wire.js';

export interface Credential {
  user: string;
  password: string;
}

export interface LoadOptions {
  host?: string;
  port: number;
  concurrency: number;
  /** Stop after this many sessions have been started… */
  sessions: number;
  /** …or after this long, whichever comes first. */
  durationMs: number;
  starttls: boolean;
  /** Rotated through, one per session. */
  users: Credential[];
  /** A session that takes longer than this is abandoned and counted as an error. */
  sessionTimeoutMs?: number;
  /** Label of the stderr progress line; none when omitted. */
  progress?: string;
}

export interface LoadResult {
  /** Sessions whose AUTH got a 235 and that ended with QUIT. */
  completed: number;
  attempted: number;
  elapsedMs: number;
  sessionsPerSecond: number;
  /** From writing AUTH to reading its reply, in milliseconds, over every answered AUTH. */
  authLatencyMs: { p50: number; p99: number; max: number };
  /** "COMMAND code" → count, e.g. "AUTH 235". */
  replies: Record<string, number>;
  /** Error message → count (refused connections, timeouts, unexpected replies). */
  errors: Record<string, number>;
}

const EHLO = 'EHLO bench.localhost';
const PROGRESS_EVERY_MS = 1000;

class UnexpectedReply extends Error {
  constructor(command: string, reply: Reply) {
    super(`${command}: ${reply.code}`);
  }
}

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/** One session; resolves with the AUTH latency, or throws. */
async function session(o: LoadOptions, credential: Credential, replies: Record<string, number>): Promise<number> {
  const smtp = await Conversation.open(o.host ?? '127.0.0.1', o.port);
  const timeoutMs = o.sessionTimeoutMs ?? 10_000;
  // Closing the socket fails the pending read, so a stuck session ends here rather than leaking.
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    smtp.close();
  }, timeoutMs);
  try {
    const expect = async (command: string, wire: string | null, code: number): Promise<Reply> => {
      const reply = wire === null ? await smtp.greeting() : await smtp.command(wire);
      bump(replies, `${command} ${reply.code}`);
      if (reply.code !== code) throw new UnexpectedReply(command, reply);
      return reply;
    };
    await expect('greeting', null, 220);
    await expect('EHLO', EHLO, 250);
    if (o.starttls) {
      await expect('STARTTLS', 'STARTTLS', 220);
      await smtp.startTls('localhost');
      await expect('EHLO', EHLO, 250);
    }
    const sent = performance.now();
    const auth = await smtp.command(authPlain(credential.user, credential.password));
    const latency = performance.now() - sent;
    bump(replies, `AUTH ${auth.code}`);
    if (auth.code !== 235) throw Object.assign(new UnexpectedReply('AUTH', auth), { latency });
    await expect('QUIT', 'QUIT', 221);
    return latency;
  } catch (err) {
    throw timedOut ? new Error(`session timeout ${timeoutMs}ms`) : err;
  } finally {
    clearTimeout(timer);
    smtp.close();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`session timeout ${ms}ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  if (o.users.length === 0) throw new Error('runLoad: no users');
  const latencies = new Samples();
  const replies: Record<string, number> = {};
  const errors: Record<string, number> = {};
  let attempted = 0;
  let completed = 0;
  const start = performance.now();
  const deadline = start + o.durationMs;
  const progress =
    o.progress === undefined
      ? undefined
      : setInterval(() => {
          const s = (performance.now() - start) / 1000;
          const failed = Object.values(errors).reduce((a, b) => a + b, 0);
          const line = `  ${o.progress}: ${completed} sessions in ${s.toFixed(0)}s (${(completed / s).toFixed(0)}/s), ${failed} errors`;
          process.stderr.write(process.stderr.isTTY ? `\r${line}\x1b[K` : `${line}\n`);
        }, PROGRESS_EVERY_MS);

  const client = async (): Promise<void> => {
    while (attempted < o.sessions && performance.now() < deadline) {
      const credential = o.users[attempted % o.users.length] as Credential;
      attempted++;
      try {
        latencies.push(await session(o, credential, replies));
        completed++;
      } catch (err) {
        const latency = (err as { latency?: number }).latency;
        if (latency !== undefined) latencies.push(latency);
        bump(errors, err instanceof Error ? err.message : String(err));
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, client));
  const elapsedMs = performance.now() - start;
  if (progress !== undefined) {
    clearInterval(progress);
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  }
  const sorted = latencies.sorted();
  return {
    completed,
    attempted,
    elapsedMs,
    sessionsPerSecond: completed / (elapsedMs / 1000),
    authLatencyMs: { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: percentile(sorted, 100) },
    replies,
    errors,
  };
}

export interface OpenedSessions {
  /** Sessions set up (and authenticated, when credentials were given) and now idle. */
  held: Conversation[];
  errors: Record<string, number>;
}

/**
 * Opens `count` sessions, at most `concurrency` being set up at a time, through EHLO (and STARTTLS),
 * authenticates each when `authenticate` is given, and leaves them idle: for memory per session,
 * and for sending one AUTH on many sessions at the same moment.
 */
export async function openSessions(o: {
  host?: string;
  port: number;
  count: number;
  concurrency: number;
  starttls: boolean;
  authenticate: Credential[] | null;
  durationMs: number;
}): Promise<OpenedSessions> {
  const held: Conversation[] = [];
  const errors: Record<string, number> = {};
  let next = 0;
  const deadline = performance.now() + o.durationMs;
  const open = async (): Promise<void> => {
    while (next < o.count && performance.now() < deadline) {
      const credential = o.authenticate?.[next % o.authenticate.length];
      next++;
      let smtp: Conversation | undefined;
      try {
        smtp = await Conversation.open(o.host ?? '127.0.0.1', o.port);
        const c = smtp;
        const step = async (wire: string | null, code: number): Promise<void> => {
          const reply = wire === null ? await c.greeting() : await c.command(wire);
          if (reply.code !== code) throw new Error(`${wire?.split(' ')[0] ?? 'greeting'}: ${reply.code}`);
        };
        await withTimeout(
          (async () => {
            await step(null, 220);
            await step(EHLO, 250);
            if (o.starttls) {
              await step('STARTTLS', 220);
              await c.startTls('localhost');
              await step(EHLO, 250);
            }
            if (credential !== undefined) await step(authPlain(credential.user, credential.password), 235);
          })(),
          10_000,
        );
        held.push(smtp);
      } catch (err) {
        smtp?.close();
        bump(errors, err instanceof Error ? err.message : String(err));
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, open));
  return { held, errors };
}

/** QUIT on every session, then close it. */
export async function quitAll(sessions: Conversation[]): Promise<void> {
  await Promise.all(
    sessions.map((smtp) =>
      withTimeout(smtp.command('QUIT'), 5_000)
        .catch(() => undefined)
        .finally(() => smtp.close()),
    ),
  );
}

/** Writes the same AUTH on every session in one tick and collects the reply codes. */
export async function authAtOnce(sessions: Conversation[], credential: Credential): Promise<Record<string, number>> {
  const codes: Record<string, number> = {};
  const line = authPlain(credential.user, credential.password);
  const replies = await Promise.allSettled(sessions.map((smtp) => withTimeout(smtp.command(line), 60_000)));
  for (const r of replies) bump(codes, r.status === 'fulfilled' ? `AUTH ${r.value.code}` : String(r.reason));
  return codes;
}
