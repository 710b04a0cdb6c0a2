/**
 * A fetch that retries what the server refused for now: 429 and 503 answers wait for their Retry-After (seconds or
 * an HTTP date) and go again, within a bounded budget: at most `retries` more tries, and no wait that would take the
 * total waited past `budgetMs` (then the refusal is returned as is). Network errors are not retried (the request may
 * have been done). The request is cloned before each try, so its body can be sent again; a job submission keeps its
 * Idempotency-Key across tries, so the server does it once.
 */

export interface RetryOptions {
  /** More tries after the first. @default 2 */
  retries?: number;
  /** Most milliseconds waited in total, over all tries. @default 30000 */
  budgetMs?: number;
  /** Wait when a 429/503 names no Retry-After, ms. @default 1000 */
  defaultWaitMs?: number;
  /** The fetch underneath. @default globalThis.fetch */
  fetch?: (request: Request) => Promise<Response>;
  /** @default setTimeout-based */
  sleep?: (ms: number) => Promise<void>;
  /** @default Date.now */
  now?: () => number;
}

const RETRYABLE = new Set([429, 503]);

/** Milliseconds a Retry-After value asks for, or undefined when it is not one (RFC 9110 section 10.2.3). */
export function retryAfterMs(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export function retryingFetch(options: RetryOptions = {}): (request: Request) => Promise<Response> {
  const retries = options.retries ?? 2;
  const budgetMs = options.budgetMs ?? 30_000;
  const defaultWaitMs = options.defaultWaitMs ?? 1000;
  if (!Number.isInteger(retries) || retries < 0 || retries > 10) {
    throw new TypeError(`retryingFetch: retries must be an integer in 0..10, got ${retries}`);
  }
  if (!(budgetMs >= 0)) throw new TypeError(`retryingFetch: budgetMs must be >= 0, got ${budgetMs}`);
  if (!(defaultWaitMs >= 0))
    throw new TypeError(`retryingFetch: defaultWaitMs must be >= 0, got ${defaultWaitMs}`);
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = options.now ?? Date.now;
  return async function fetchWithRetry(request: Request): Promise<Response> {
    const send = options.fetch ?? ((r: Request) => globalThis.fetch(r));
    let waited = 0;
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= retries;
      const res = await send(last ? request : request.clone());
      if (last || !RETRYABLE.has(res.status)) return res;
      const wait = retryAfterMs(res.headers.get('retry-after'), now()) ?? defaultWaitMs;
      if (waited + wait > budgetMs) return res;
      await res.body?.cancel();
      await sleep(wait);
      waited += wait;
    }
  };
}
