/**
 * Exact usage per tenant, key, model, UTC day and hour, counted off the request path: each isolate sums its
 * requests' counts in memory and writes them to Upstash in one batch at most once per `flushMs` (via waitUntil).
 *
 * - One hash per tenant and day, `edge:usage:v1:{tenant}:{YYYY-MM-DD}`, fields `{key}|{model}|{hour}|{metric}`
 *   where metric is `req`, `items`, `rows` (job rows), `sb:{served_by}`, `rf:{error code}` or `oc` (origin compute,
 *   µs); a set `edge:usage:v1:tenants:{day}` lists the day's tenants; a sorted set `edge:usage:v1:last:{tenant}`
 *   holds each key's last use (minute, only ever moved forward). Kept USAGE_TTL_SECONDS.
 * - Exact: a batch is written by one Lua script that first claims the batch's id (SET NX), so a batch retried after
 *   a timeout whose write did land is not counted twice. A failed batch is kept and retried with the next flush;
 *   past `maxRetries` tries (or `maxBatches` waiting) it is dropped with a logged reason and its items counted in
 *   `edge:usage:v1:dropped:{day}` by the next batch that lands, so nothing disappears silently.
 */
import { withTimeout } from '../../../shared/timeout/index.ts';

/** One request's usage, as the usage middleware saw it. */
export interface UsageEvent {
  tenant: string;
  key: string;
  model: string;
  /** 1 for a client's request; 0 for a job chunk's internal request (its rows are counted as `rows`). */
  requests: number;
  /** Items of a synchronous request that were answered. */
  items: number;
  /** Job rows: submitted (at submission) or answered (a chunk). */
  rows: number;
  /** Answered items per path (edge, origin, cache, edge-degraded). */
  servedBy: Readonly<Record<string, number>> | undefined;
  /** The error code of a refused request. */
  refused: string | undefined;
  /** Origin compute for this request's escalated items, ms. */
  originComputeMs: number;
}

/** What the recorder needs of Upstash: one script, run by SHA with a fallback to EVAL (@upstash/redis Script). */
export interface UsageStore {
  exec(keys: string[], args: string[]): Promise<unknown>;
}

export interface UsageRecorderOptions {
  /** Longest time counts wait in the isolate, ms; 0 flushes after every request. @default 1000 */
  flushMs?: number;
  /** Pending fields that force a flush. @default 2000 */
  maxPending?: number;
  /** Longest wait for one batch's write, ms. @default 2000 */
  timeoutMs?: number;
  /** Tries of a batch before it is dropped (logged, counted as dropped). @default 30 */
  maxRetries?: number;
  /** Batches kept waiting for a retry at most; older ones are dropped first. @default 64 */
  maxBatches?: number;
  /** @default Date.now */
  now?: () => number;
  /** @default console.warn of a JSON line */
  warn?: (event: Record<string, unknown>) => void;
}

export const USAGE_PREFIX = 'edge:usage:v1:';
/** Usage is kept 400 days (a year of invoices plus a month). */
export const USAGE_TTL_SECONDS = 400 * 86_400;

export const usageKeys = {
  day: (tenant: string, day: string) => `${USAGE_PREFIX}${tenant}:${day}`,
  tenants: (day: string) => `${USAGE_PREFIX}tenants:${day}`,
  last: (tenant: string) => `${USAGE_PREFIX}last:${tenant}`,
  dropped: (day: string) => `${USAGE_PREFIX}dropped:${day}`,
  batch: (id: string) => `${USAGE_PREFIX}batch:${id}`,
};

/** Field separator: ids, model names and error codes hold none. */
export const SEP = '|';

/**
 * The batch script. KEYS[1] is the batch's claim; ARGV[1] the keys' TTL; then ops: `h key field n` (HINCRBY),
 * `s key member` (SADD), `z key member minute` (forward-only ZADD), each key given by its index in KEYS.
 */
export const USAGE_SCRIPT = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', 86400) then return 0 end
local ttl = tonumber(ARGV[1])
local touched = {}
local i = 2
while i <= #ARGV do
  local op = ARGV[i]
  local key = KEYS[tonumber(ARGV[i + 1])]
  if op == 'h' then
    redis.call('HINCRBY', key, ARGV[i + 2], tonumber(ARGV[i + 3]))
    i = i + 4
  elseif op == 's' then
    redis.call('SADD', key, ARGV[i + 2])
    i = i + 3
  else
    local now = tonumber(ARGV[i + 3])
    local cur = redis.call('ZSCORE', key, ARGV[i + 2])
    if (not cur) or tonumber(cur) < now then redis.call('ZADD', key, now, ARGV[i + 2]) end
    i = i + 4
  end
  touched[key] = true
end
for key in pairs(touched) do redis.call('EXPIRE', key, ttl) end
return 1
`;

interface Batch {
  id: string;
  /** hash key -> field -> count */
  counts: Map<string, Map<string, number>>;
  /** set key -> members */
  sets: Map<string, Set<string>>;
  /** sorted set key -> member -> minute */
  last: Map<string, Map<string, number>>;
  /** Items (and rows) the batch carries, for the dropped count. */
  items: number;
  tries: number;
}

/** A batch gets its id when it is first sent (`id` empty until then). */
const emptyBatch = (): Batch => ({
  id: '',
  counts: new Map(),
  sets: new Map(),
  last: new Map(),
  items: 0,
  tries: 0,
});

function bump(m: Map<string, Map<string, number>>, key: string, field: string, n: number): boolean {
  let hash = m.get(key);
  if (hash === undefined) {
    hash = new Map();
    m.set(key, hash);
  }
  const had = hash.has(field);
  hash.set(field, (hash.get(field) ?? 0) + n);
  return !had;
}

/** The script's keys and arguments for one batch (exported for tests). */
export function scriptCall(
  batch: Batch,
  dropped?: { day: string; items: number },
): { keys: string[]; args: string[] } {
  const keys = [usageKeys.batch(batch.id)];
  const index = new Map<string, number>();
  const keyIndex = (k: string) => {
    let i = index.get(k);
    if (i === undefined) {
      keys.push(k);
      i = keys.length;
      index.set(k, i);
    }
    return String(i);
  };
  const args = [String(USAGE_TTL_SECONDS)];
  for (const [key, hash] of batch.counts) {
    for (const [field, n] of hash) args.push('h', keyIndex(key), field, String(Math.round(n)));
  }
  for (const [key, members] of batch.sets) for (const m of members) args.push('s', keyIndex(key), m);
  for (const [key, members] of batch.last) {
    for (const [m, minute] of members) args.push('z', keyIndex(key), m, String(minute));
  }
  if (dropped !== undefined && dropped.items > 0) {
    args.push('h', keyIndex(usageKeys.dropped(dropped.day)), 'items', String(dropped.items));
  }
  return { keys, args };
}

/** One isolate's usage meter (the app keeps one). */
export class UsageRecorder {
  readonly #o: Required<UsageRecorderOptions>;
  /** This isolate's batch-id prefix: drawn at the first batch (a Worker may not draw random values at start-up). */
  #isolate: string | undefined;
  #seq = 0;
  #pending: Batch;
  #pendingFields = 0;
  /** Batches whose write failed, oldest first, retried before new ones. */
  #retry: Batch[] = [];
  /** Items of dropped batches not yet counted in Upstash. */
  #dropped = 0;
  #lastFlush: number;
  #scheduled = false;
  #flushing: Promise<void> | undefined;

  constructor(options: UsageRecorderOptions = {}) {
    this.#o = {
      flushMs: options.flushMs ?? 1000,
      maxPending: options.maxPending ?? 2000,
      timeoutMs: options.timeoutMs ?? 2000,
      maxRetries: options.maxRetries ?? 30,
      maxBatches: options.maxBatches ?? 64,
      now: options.now ?? Date.now,
      warn: options.warn ?? ((e) => console.warn(JSON.stringify({ level: 'warn', ...e }))),
    };
    this.#lastFlush = this.#o.now();
    this.#pending = emptyBatch();
  }

  #nextId(): string {
    this.#isolate ??= crypto.randomUUID();
    return `${this.#isolate}:${this.#seq++}`;
  }

  /** Items counted in this isolate whose batches were dropped (and not yet reported to Upstash). */
  get droppedItems(): number {
    return this.#dropped;
  }

  /** Counts one request; schedules a flush to `store` through `waitUntil` when one is due. */
  record(
    event: UsageEvent,
    store: UsageStore | undefined,
    waitUntil: (p: Promise<unknown>) => void,
    /** Write at once (a job chunk: its queue invocation must not stay open for the delayed flush's timer). */
    flushNow = false,
  ): void {
    if (store === undefined) return;
    const now = this.#o.now();
    const iso = new Date(now).toISOString();
    const day = iso.slice(0, 10);
    const hour = iso.slice(11, 13);
    const b = this.#pending;
    const hashKey = usageKeys.day(event.tenant, day);
    const prefix = `${event.key}${SEP}${event.model}${SEP}${hour}${SEP}`;
    const add = (metric: string, n: number) => {
      if (n !== 0 && bump(b.counts, hashKey, prefix + metric, n)) this.#pendingFields++;
    };
    add('req', event.requests);
    add('items', event.items);
    add('rows', event.rows);
    if (event.servedBy !== undefined) {
      for (const [path, n] of Object.entries(event.servedBy)) add(`sb:${path}`, n);
    }
    if (event.refused !== undefined) add(`rf:${event.refused}`, 1);
    // µs, integers: HINCRBY adds integers only.
    add('oc', Math.round(event.originComputeMs * 1000));
    b.items += event.items + event.rows;
    let tenants = b.sets.get(usageKeys.tenants(day));
    if (tenants === undefined) {
      tenants = new Set();
      b.sets.set(usageKeys.tenants(day), tenants);
    }
    tenants.add(event.tenant);
    let last = b.last.get(usageKeys.last(event.tenant));
    if (last === undefined) {
      last = new Map();
      b.last.set(usageKeys.last(event.tenant), last);
    }
    last.set(event.key, Math.floor(now / 60_000));

    const wait = this.#o.flushMs - (now - this.#lastFlush);
    if (flushNow || wait <= 0 || this.#pendingFields >= this.#o.maxPending) {
      waitUntil(this.flush(store));
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      waitUntil(new Promise((resolve) => setTimeout(resolve, wait)).then(() => this.flush(store)));
    }
  }

  /** Writes the pending batch and any waiting retries, one at a time, oldest first; never throws. */
  flush(store: UsageStore): Promise<void> {
    this.#scheduled = false;
    this.#lastFlush = this.#o.now();
    if (this.#pending.counts.size > 0 || this.#pending.sets.size > 0) {
      this.#pending.id = this.#nextId();
      this.#retry.push(this.#pending);
      this.#pending = emptyBatch();
      this.#pendingFields = 0;
    }
    // One writer at a time per isolate: batches land in order and a retry never races its first try.
    const run = (this.#flushing ?? Promise.resolve()).then(() => this.#writeAll(store));
    this.#flushing = run;
    return run;
  }

  async #writeAll(store: UsageStore): Promise<void> {
    while (this.#retry.length > this.#o.maxBatches)
      this.#drop(this.#retry.shift() as Batch, 'too many batches waiting');
    const batches = this.#retry;
    this.#retry = [];
    for (const [i, batch] of batches.entries()) {
      batch.tries++;
      const dropped = this.#dropped;
      const call = scriptCall(batch, {
        day: new Date(this.#o.now()).toISOString().slice(0, 10),
        items: dropped,
      });
      const result = await withTimeout(
        Promise.resolve().then(() => store.exec(call.keys, call.args)),
        this.#o.timeoutMs,
      );
      if (result.kind === 'value') {
        // 1: written; 0: a retry of a batch that had landed (its claim is there), counted once either way.
        if (Number(result.value) === 1) this.#dropped -= dropped;
        continue;
      }
      const reason =
        result.kind === 'timeout' ? `timeout after ${this.#o.timeoutMs} ms` : String(result.error);
      // This and every later batch wait for the next flush (Redis is likely down for all of them).
      const waiting = batches.slice(i);
      for (const b of waiting) {
        if (b.tries >= this.#o.maxRetries) this.#drop(b, reason);
        else this.#retry.push(b);
      }
      this.#o.warn({
        msg: 'usage batch not written; kept for a retry',
        reason,
        waiting: this.#retry.length,
      });
      return;
    }
  }

  #drop(batch: Batch, reason: string): void {
    this.#dropped += batch.items;
    this.#o.warn({
      msg: 'usage batch dropped',
      reason,
      items: batch.items,
      tries: batch.tries,
      id: batch.id,
    });
  }
}

/** The Upstash reads `lastUsedOf` makes (one pipeline of ZSCORE). */
export interface LastUsedReader {
  pipeline(): { zscore(key: string, member: string): unknown; exec(): Promise<unknown[]> };
}

/**
 * Each key's last use (ISO time, minute precision; null when never used or unknown), from the usage counters in one
 * round trip. Best effort: without the store, or when it fails, every key reads null.
 */
export async function lastUsedOf(
  reader: LastUsedReader | undefined,
  keys: ReadonlyArray<{ id: string; tenant: string }>,
): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>(keys.map((k) => [k.id, null]));
  if (reader === undefined || keys.length === 0) return out;
  try {
    const p = reader.pipeline();
    for (const k of keys) p.zscore(usageKeys.last(k.tenant), k.id);
    const minutes = await withTimeout(p.exec(), 1000);
    if (minutes.kind !== 'value') return out;
    keys.forEach((k, i) => {
      const m = Number(minutes.value[i]);
      if (minutes.value[i] !== null && Number.isFinite(m)) out.set(k.id, new Date(m * 60_000).toISOString());
    });
  } catch {
    // best effort: null
  }
  return out;
}
