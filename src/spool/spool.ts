// The spool: each accepted message becomes <id>.eml (raw) and <id>.json (envelope) in [queue] path.
// Both are written under tmp/, fsynced, then renamed into place — the envelope last, so a reader that
// sees <id>.json can trust <id>.eml is whole. Nothing half-written is ever left in the queue.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { SpoolError } from '../errors.js';

export interface Envelope {
  id: string;
  user: string | null;
  mailFrom: string;
  rcptTo: string[];
  listener: string;
  remoteIp: string;
  receivedAt: string;
  size: number;
}

export type StoreResult =
  | { kind: 'queued'; id: string; bytes: number }
  | { kind: 'too_large'; bytes: number }
  /** The client went away mid-message: nothing is kept, and nothing is wrong with the spool. */
  | { kind: 'aborted'; bytes: number };

/** Longer than a live store can go without a write: smtp-server drops a connection silent for 60 s. */
const STALE_TMP_MS = 10 * 60_000;

export class Spool {
  readonly #tmp: string;
  /** Stores under way, so shutdown can wait for each to be written or cleaned up. */
  readonly #inFlight = new Set<Promise<StoreResult>>();

  constructor(readonly dir: string) {
    this.#tmp = join(dir, 'tmp');
  }

  /**
   * Creates the directories and removes what a crashed run left half-written in tmp/ (never answered
   * 250, so nothing is lost). Only files untouched for STALE_TMP_MS: during a rolling restart the old
   * process may still be writing its last messages there. Returns how many files were removed.
   */
  async init(now = Date.now()): Promise<number> {
    await mkdir(this.#tmp, { recursive: true });
    let removed = 0;
    for (const name of await readdir(this.#tmp)) {
      const path = join(this.#tmp, name);
      const info = await stat(path).catch(() => undefined);
      if (info?.isFile() !== true || now - info.mtimeMs < STALE_TMP_MS) continue;
      await rm(path, { force: true });
      removed++;
    }
    return removed;
  }

  /**
   * Consumes the whole stream; stops writing once it passes `maxBytes` (the message is then refused,
   * the rest only drained so the client gets its reply) and keeps nothing of a refused message.
   */
  store(stream: Readable, envelope: Omit<Envelope, 'id' | 'receivedAt' | 'size'>, maxBytes = Infinity): Promise<StoreResult> {
    const stored = this.#store(stream, envelope, maxBytes);
    this.#inFlight.add(stored);
    void stored.catch(() => undefined).finally(() => this.#inFlight.delete(stored));
    return stored;
  }

  /** Messages in the queue (whole entries: their envelope is in place). */
  async count(): Promise<number> {
    return (await readdir(this.dir)).filter((name) => name.endsWith('.json')).length;
  }

  /**
   * Resolves once every store under way has finished. A session cut off at shutdown aborts its message
   * only when its socket closes, after the listeners have returned: without this wait the process
   * would exit with the half-written message still in tmp/.
   */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#inFlight]);
  }

  async #store(stream: Readable, envelope: Omit<Envelope, 'id' | 'receivedAt' | 'size'>, maxBytes: number): Promise<StoreResult> {
    const id = `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
    const tmpMessage = join(this.#tmp, `${id}.eml`);
    const tmpEnvelope = join(this.#tmp, `${id}.json`);
    let bytes = 0;
    let failure: unknown;
    try {
      const file = await open(tmpMessage, 'wx', 0o640);
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          bytes += chunk.length;
          // Keep draining an oversized message so the client gets its reply, but stop writing it.
          if (bytes <= maxBytes && failure === undefined) await file.write(chunk).catch((err: unknown) => (failure = err));
        }
        if (failure !== undefined) throw failure;
        if (bytes > maxBytes) {
          await file.close();
          await rm(tmpMessage, { force: true });
          return { kind: 'too_large', bytes };
        }
        await file.sync();
      } finally {
        await file.close().catch(() => undefined);
      }
      const record: Envelope = { id, ...envelope, receivedAt: new Date().toISOString(), size: bytes };
      const envelopeFile = await open(tmpEnvelope, 'wx', 0o640);
      try {
        await envelopeFile.writeFile(`${JSON.stringify(record, null, 2)}\n`);
        await envelopeFile.sync();
      } finally {
        await envelopeFile.close();
      }
      await rename(tmpMessage, join(this.dir, `${id}.eml`));
      await rename(tmpEnvelope, join(this.dir, `${id}.json`));
      await this.#syncDir();
      return { kind: 'queued', id, bytes };
    } catch (err) {
      // Drain what is left so the session can still answer, then remove every trace.
      stream.resume();
      await Promise.all([tmpMessage, tmpEnvelope, join(this.dir, `${id}.eml`)].map((f) => rm(f, { force: true })));
      // smtp-server destroys the data stream when the connection closes before the final dot.
      if (stream.destroyed && !stream.readableEnded) return { kind: 'aborted', bytes };
      throw new SpoolError('the message could not be written to the queue', err);
    }
  }

  async #syncDir(): Promise<void> {
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
