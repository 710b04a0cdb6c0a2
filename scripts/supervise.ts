/**
 * A small supervisor for the local stack (`npm start`): when a component dies, the others keep running; it says
 * what died and restarts it after a backoff that doubles while it keeps dying (and starts over once it has stayed
 * up a while). Ctrl-C still stops everything: `stopping()` ends the watch.
 */

/** Something the supervisor can watch and restart. */
export interface Supervised {
  name: string;
  /** Resolves when the current process exits, with its exit code (null when killed by a signal). */
  exited(): Promise<number | null>;
  /** Starts a fresh process; rejects when it cannot (the supervisor tries again later). */
  restart(): Promise<void>;
}

export interface SuperviseOptions {
  log: (line: string) => void;
  /** True once the stack is shutting down: nothing is restarted any more. */
  stopping: () => boolean;
  /** @default setTimeout-based */
  sleep?: (ms: number) => Promise<void>;
  /** First wait before a restart, ms. @default 1000 */
  initialBackoffMs?: number;
  /** Longest wait, ms. @default 30000 */
  maxBackoffMs?: number;
  /** A component up this long is healthy again: its next restart waits initialBackoffMs. @default 60000 */
  stableAfterMs?: number;
}

/** Watches every component until `stopping()`; resolves when every watch has ended. */
export function supervise(components: readonly Supervised[], options: SuperviseOptions): Promise<void> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const initial = options.initialBackoffMs ?? 1000;
  const max = options.maxBackoffMs ?? 30_000;
  const stable = options.stableAfterMs ?? 60_000;
  const watch = async (c: Supervised): Promise<void> => {
    let backoff = initial;
    for (;;) {
      const upSince = Date.now();
      const code = await c.exited();
      if (options.stopping()) return;
      if (Date.now() - upSince >= stable) backoff = initial;
      options.log(`${c.name} exited (code ${code}); restarting in ${backoff / 1000} s`);
      await sleep(backoff);
      if (options.stopping()) return;
      try {
        await c.restart();
        options.log(`${c.name} is back`);
      } catch (err) {
        options.log(`${c.name} failed to restart: ${(err as Error).message}`);
      }
      backoff = Math.min(max, backoff * 2);
    }
  };
  return Promise.all(components.map(watch)).then(() => undefined);
}
