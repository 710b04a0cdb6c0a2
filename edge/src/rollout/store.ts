/**
 * Rollout policies in the shared store (Upstash key `rollout:v1:{model}`, one JSON document per model), read
 * through a per-isolate cache: a policy is at most `ttlMs` old (default 5 s: a promote or rollback reaches every
 * isolate within that), and when the store is down, slow or holds something invalid, the last known policy holds
 * (else none: the bundle's default, its latest release, answers). Writes are compare-and-set on the revision (one
 * Lua script), so two admins cannot overwrite each other's change unknowingly.
 */
import { RolloutPolicy } from '../../../shared/rollout/index.ts';
import { withTimeout } from '../../../shared/timeout/index.ts';

/** The value of `promise` within `ms`, else an Error naming `what`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  const outcome = await withTimeout(promise, ms);
  if (outcome.kind === 'value') return outcome.value;
  if (outcome.kind === 'timeout') throw new Error(`${what} timed out after ${ms} ms`);
  throw outcome.error instanceof Error ? outcome.error : new Error(`${what} failed`);
}

/** The Upstash calls used. */
export interface RolloutBackend {
  get(key: string): Promise<unknown>;
  eval(script: string, keys: string[], args: string[]): Promise<unknown>;
}

export const rolloutKey = (model: string) => `rollout:v1:${model}`;

/** SET the new document only if the stored revision is the expected one; returns [1, new] or [0, current]. */
const CAS_SCRIPT = `
local cur = redis.call('GET', KEYS[1])
local rev = 0
if cur then
  local ok, doc = pcall(cjson.decode, cur)
  if ok and type(doc) == 'table' and tonumber(doc['revision']) then rev = tonumber(doc['revision']) end
end
if tonumber(ARGV[1]) ~= rev then return {0, rev} end
redis.call('SET', KEYS[1], ARGV[2])
return {1, rev + 1}
`;

export interface RolloutStoreOptions {
  /** How long a read policy is used before it is read again, ms. @default 5000 */
  ttlMs?: number;
  /** Longest wait for the store on the request path, ms. @default 250 */
  timeoutMs?: number;
  now?: () => number;
  /** Where a dropped read is reported. @default console.error of one JSON line */
  warn?: (fields: Record<string, unknown>) => void;
}

/** The outcome of a compare-and-set write. */
export type WriteResult = { ok: true; policy: RolloutPolicy } | { ok: false; currentRevision: number };

export class RolloutStore {
  readonly ttlMs: number;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  readonly #warn: (fields: Record<string, unknown>) => void;
  readonly #known = new Map<string, { policy: RolloutPolicy | undefined; readAt: number }>();

  constructor(options: RolloutStoreOptions = {}) {
    this.ttlMs = options.ttlMs ?? 5000;
    this.#timeoutMs = options.timeoutMs ?? 250;
    this.#now = options.now ?? Date.now;
    this.#warn = options.warn ?? ((fields) => console.error(JSON.stringify({ level: 'warn', ...fields })));
  }

  /** Reads the stored policy now (no cache); undefined when none is stored. Throws when the store fails. */
  async read(backend: RolloutBackend, model: string): Promise<RolloutPolicy | undefined> {
    const raw = await within(backend.get(rolloutKey(model)), this.#timeoutMs, 'rollout policy read');
    if (raw === null || raw === undefined) return undefined;
    const parsed = RolloutPolicy.safeParse(typeof raw === 'string' ? JSON.parse(raw) : raw);
    if (!parsed.success) throw new Error(`the stored rollout policy of ${model} is invalid`);
    return parsed.data;
  }

  /**
   * The policy in force for `model` on the request path: cached for ttlMs; on a failed read the last known one
   * (kept, and retried after ttlMs); undefined when none was ever stored or readable.
   */
  async current(backend: RolloutBackend | undefined, model: string): Promise<RolloutPolicy | undefined> {
    const known = this.#known.get(model);
    const now = this.#now();
    if (known !== undefined && now - known.readAt < this.ttlMs) return known.policy;
    if (backend === undefined) return known?.policy;
    try {
      const policy = await this.read(backend, model);
      this.#known.set(model, { policy, readAt: now });
      return policy;
    } catch (err) {
      this.#known.set(model, { policy: known?.policy, readAt: now });
      this.#warn({
        msg: 'rollout policy not read; the last known one holds',
        model,
        reason: err instanceof Error ? err.message : String(err),
        last_known_revision: known?.policy?.revision ?? null,
      });
      return known?.policy;
    }
  }

  /**
   * Writes `next` (its revision must be the stored one + 1) if the stored revision is still `next.revision - 1`.
   * The isolate's cache takes the new policy at once.
   */
  async write(backend: RolloutBackend, next: RolloutPolicy): Promise<WriteResult> {
    const result = (await within(
      backend.eval(CAS_SCRIPT, [rolloutKey(next.model)], [String(next.revision - 1), JSON.stringify(next)]),
      this.#timeoutMs * 4,
      'rollout policy write',
    )) as [number, number];
    if (Number(result[0]) !== 1) return { ok: false, currentRevision: Number(result[1]) };
    this.#known.set(next.model, { policy: next, readAt: this.#now() });
    return { ok: true, policy: next };
  }
}
