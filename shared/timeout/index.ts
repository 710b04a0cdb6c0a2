/**
 * A promise raced against a timer: the outcome says whether it settled in time, and how. The timer is cleared
 * when the race is decided, and a rejection that comes after the timeout is absorbed (never unhandled).
 */

export type TimedOutcome<T> =
  | { kind: 'value'; value: T }
  | { kind: 'error'; error: unknown }
  | { kind: 'timeout' };

/** Waits at most `ms` for `promise`; never rejects. */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<TimedOutcome<T>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<TimedOutcome<T>>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'timeout' }), ms);
  });
  const settled = promise.then(
    (value): TimedOutcome<T> => ({ kind: 'value', value }),
    (error: unknown): TimedOutcome<T> => ({ kind: 'error', error }),
  );
  return Promise.race([settled, timeout]).finally(() => {
    if (timer !== undefined) clearTimeout(timer);
  });
}
