/**
 * From a presented secret's SHA-256 to its key and tenant, on the request path:
 *
 *   per-isolate cache (fresh `freshMs`, 10 s) -> Workers KV projection (`key:<hash>`, `tenant:<id>`, read with a
 *   `cacheTtl`) -> D1 (the store of record; what it finds is written back to KV off the request path)
 *
 * Lookups are by hash and id, never a scan: the cost does not depend on how many keys exist. An unknown hash is
 * remembered in the isolate for `freshMs` too (KV caches misses as well), so junk with a valid checksum costs one
 * D1 query per isolate and 10 s at most.
 *
 * How stale an answer can be (the bound tests pin): a change reaches KV when the admin API writes it; another
 * isolate serves its cached copy for at most `freshMs`, then KV's (which may lag up to ~60 s at other locations).
 * A failing KV or D1 is 503 `unavailable` (store.ts storeCall), never a 500.
 * The revocation epoch (epochs.ts), read in the rate limiter's Redis round trip, cuts that to about a second:
 * a cached record older than its epoch is reloaded from D1 (`refresh`).
 */
import { Lru } from '../lib/lru.ts';
import { type ApiKey, storeCall, type Tenant, type TenantStore } from './store.ts';

export type KeyKv = Pick<KVNamespace, 'get' | 'put'>;

/** What KV holds per secret hash. */
export interface KeyEntry {
  key: ApiKey;
  secret_expires_at: number | null;
}

export interface Resolved {
  key: ApiKey;
  /** When this secret stops working (a rotated-out secret's grace end); null: with the key. */
  secretExpiresAt: number | null;
  tenant: Tenant;
}

export const kvKeyName = (hash: string) => `key:${hash}`;
export const kvTenantName = (id: string) => `tenant:${id}`;

/** Writes the KV projection of a key (one entry per secret hash). */
export async function projectKey(
  kv: KeyKv,
  key: ApiKey,
  secrets: Array<{ hash: string; expiresAt: number | null }>,
) {
  await Promise.all(
    secrets.map((s) =>
      kv.put(kvKeyName(s.hash), JSON.stringify({ key, secret_expires_at: s.expiresAt } satisfies KeyEntry)),
    ),
  );
}

export async function projectTenant(kv: KeyKv, tenant: Tenant) {
  await kv.put(kvTenantName(tenant.id), JSON.stringify(tenant));
}

export interface ResolverOptions {
  /** Clock, ms. @default Date.now */
  now?: () => number;
  /** How long an isolate trusts its cached record (and a miss), ms. @default 10000 */
  freshMs?: number;
  /** Records cached per isolate (least recently used out). @default 10000 */
  maxEntries?: number;
  /** KV's edge cache TTL for these reads, s (Cloudflare's minimum is 60). @default 60 */
  kvCacheTtl?: number;
}

/** Where the resolver reads: the store of record, the projection (absent: D1 only), and where background work goes. */
export interface ResolverSources {
  store: Pick<TenantStore, 'findSecret' | 'getTenant'>;
  kv: KeyKv | undefined;
  waitUntil: (p: Promise<unknown>) => void;
}

/** A record (or a miss) as this isolate read it, and when. */
type Cached<V> = { value: V; at: number };

export class KeyResolver {
  readonly #now: () => number;
  readonly #freshMs: number;
  readonly #kvCacheTtl: number;
  readonly #keys: Lru<Cached<KeyEntry | null>>;
  readonly #tenants: Lru<Cached<Tenant | null>>;

  constructor(options: ResolverOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#freshMs = options.freshMs ?? 10_000;
    this.#kvCacheTtl = options.kvCacheTtl ?? 60;
    const max = options.maxEntries ?? 10_000;
    if (!Number.isFinite(this.#freshMs) || this.#freshMs < 0)
      throw new TypeError(`freshMs must be a number >= 0, got ${this.#freshMs}`);
    if (!Number.isInteger(max) || max < 1)
      throw new TypeError(`maxEntries must be an integer >= 1, got ${max}`);
    if (!Number.isInteger(this.#kvCacheTtl) || this.#kvCacheTtl < 60)
      throw new TypeError(
        `kvCacheTtl must be an integer >= 60 (Cloudflare's minimum), got ${this.#kvCacheTtl}`,
      );
    this.#keys = new Lru(max);
    this.#tenants = new Lru(max);
  }

  /** The key and tenant of a secret's hash, or undefined when no key has it. */
  resolve(hash: string, src: ResolverSources): Promise<Resolved | undefined> {
    return storeCall(() => this.#resolve(hash, src, false));
  }

  /** As resolve, from D1 itself (a revocation epoch said the cached record is stale); refreshes KV too. */
  refresh(hash: string, src: ResolverSources): Promise<Resolved | undefined> {
    return storeCall(() => this.#resolve(hash, src, true));
  }

  /** Forgets what this isolate cached (the admin API calls it after a change it made). */
  forget(change: { hash?: string; tenant?: string }): void {
    if (change.hash !== undefined) this.#keys.delete(kvKeyName(change.hash));
    if (change.tenant !== undefined) this.#tenants.delete(kvTenantName(change.tenant));
  }

  async #resolve(hash: string, src: ResolverSources, fromStore: boolean): Promise<Resolved | undefined> {
    const entry = await this.#read(this.#keys, kvKeyName(hash), src, fromStore, async () => {
      const found = await src.store.findSecret(hash);
      return found === undefined ? null : { key: found.key, secret_expires_at: found.secretExpiresAt };
    });
    if (entry === null) return undefined;
    const tenant = await this.#read(
      this.#tenants,
      kvTenantName(entry.key.tenant),
      src,
      fromStore,
      async () => (await src.store.getTenant(entry.key.tenant)) ?? null,
    );
    if (tenant === null) return undefined;
    return { key: entry.key, secretExpiresAt: entry.secret_expires_at, tenant };
  }

  /**
   * One record by its KV name: the isolate's copy while fresh, else KV's, else `load` from D1 (written back to KV
   * off the request path); `fromStore` goes to D1 at once. Misses are cached in the isolate too.
   */
  async #read<V extends object>(
    lru: Lru<Cached<V | null>>,
    name: string,
    src: ResolverSources,
    fromStore: boolean,
    load: () => Promise<V | null>,
  ): Promise<V | null> {
    const now = this.#now();
    if (!fromStore) {
      const cached = lru.get(name);
      if (cached !== undefined && now - cached.at < this.#freshMs) return cached.value;
      const projected =
        src.kv === undefined ? null : await src.kv.get<V>(name, { type: 'json', cacheTtl: this.#kvCacheTtl });
      if (projected !== null) {
        lru.set(name, { value: projected, at: now });
        return projected;
      }
    }
    const value = await load();
    lru.set(name, { value, at: now });
    const kv = src.kv;
    if (value !== null && kv !== undefined) src.waitUntil(kv.put(name, JSON.stringify(value)).catch(warn));
    return value;
  }
}

function warn(err: unknown): void {
  console.warn(
    JSON.stringify({ level: 'warn', msg: 'key projection not written to KV', error: String(err) }),
  );
}
