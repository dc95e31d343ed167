// Shutdown in a defined order. Each long-lived service registers its own close when it starts;
// close() runs them last-registered first (fastify's onClose order): whatever started later may
// depend on what started before it, so it stops first — the listeners before the sessions they
// feed, the sessions before the spool and the backends they write to and ask.
export interface CloseContext {
  /** How long open sessions may still take, from the start of close(). */
  readonly graceMs: number;
}

type Hook = (ctx: CloseContext) => Promise<void> | void;

export class Lifecycle {
  readonly #hooks: { name: string; close: Hook }[] = [];
  #closing: Promise<void> | undefined;

  onClose(name: string, close: Hook): void {
    if (this.#closing !== undefined) throw new Error(`"${name}" registered after close()`);
    this.#hooks.push({ name, close });
  }

  /**
   * Runs every hook once, in reverse order of registration. A hook that fails is reported to
   * `onStep` and the next one still runs: a stuck backend must not keep the spool from settling.
   */
  close(ctx: CloseContext, onStep: (name: string, error?: unknown) => void = () => {}): Promise<void> {
    this.#closing ??= (async () => {
      for (const { name, close } of [...this.#hooks].reverse()) {
        try {
          await close(ctx);
          onStep(name);
        } catch (error) {
          onStep(name, error);
        }
      }
    })();
    return this.#closing;
  }
}
