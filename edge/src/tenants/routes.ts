/**
 * The tenants and keys admin API (keys with `admin`; `tenant_admin` for its own tenant's keys and audit). Every
 * change goes to D1 with its audit entry, then to the KV projection (before the answer: KV caches misses, so a new
 * key must be there before its secret is shown), then bumps the revocation epoch (epochs.ts) so every PoP drops its
 * cached copy within about a second.
 *
 *   POST  /v1/admin/tenants                 {name, tier, models?, regions?, quotas?}        admin        -> 201 tenant
 *   GET   /v1/admin/tenants[?cursor&limit]                                                  admin, own
 *   GET   /v1/admin/tenants/{id}                                                            admin, own
 *   PATCH /v1/admin/tenants/{id}            {name?, tier?, models?, regions?, quotas?, disabled?}  admin
 *   POST  /v1/admin/keys                    {tenant, name, scopes, models?, expires_at?}   admin, own   -> 201 {key, record}
 *   GET   /v1/admin/keys[?tenant&cursor&limit]                                              admin, own
 *   GET   /v1/admin/keys/{id}                                                               admin, own
 *   PATCH /v1/admin/keys/{id}               {name?, scopes?, models?, expires_at?, disabled?}      admin, own
 *   POST  /v1/admin/keys/{id}/rotate        {grace_seconds?}                                admin, own   -> {key, record}
 *   POST  /v1/admin/keys/{id}/revoke                                                        admin, own   -> {record}
 *   GET   /v1/admin/audit[?tenant&cursor&limit]                                             admin, own
 *
 * Unknown fields and malformed values -> 400 naming the field; unknown ids -> 404; another tenant's resource, or a
 * scope a tenant_admin may not grant -> 403; rotating a revoked or expired key -> 409. The secret is in the answer
 * of create and rotate only, never in the audit log, a log line or an error.
 */
import type { Context } from 'hono';
import type { z } from 'zod';
import { InferenceError, InvalidInputError } from '../../../shared/errors/index.ts';
import { sha256Hex } from '../../../shared/hash/index.ts';
import { zodMessage } from '../../../shared/protocol/codec.ts';
import { rateTierOf } from '../config.ts';
import { readBody, readJson, requireJson } from '../routes/request.ts';
import type { AppEnv, Principal } from '../types.ts';
import { redisFor } from '../upstash.ts';
import { type LastUsedReader, lastUsedOf } from '../usage/recorder.ts';
import { bumpEpochs } from './epochs.ts';
import { generateKey, type KeyEnv, keyStart } from './key-format.ts';
import { type KeyResolver, projectKey, projectTenant } from './resolver.ts';
import { KeyCreate, KeyPatch, Rotate, TenantCreate, TenantPatch } from './schemas.ts';
import { type Actor, type ApiKey, storeCall, type Tenant, TenantStore } from './store.ts';

export interface TenantRouteDeps {
  resolver: KeyResolver;
  now: () => number;
}

async function body<T>(c: Context<AppEnv>, schema: z.ZodType<T>, emptyOk = false): Promise<T> {
  // A body-less POST (rotate, revoke) is an empty object; anything sent must be JSON.
  const empty = emptyOk && (await readBody(c, c.get('config').maxBodyBytes)).length === 0;
  if (!empty) requireJson(c);
  const raw = empty ? {} : await readJson(c);
  const parsed = schema.safeParse(raw);
  if (!parsed.success)
    throw new InvalidInputError(`invalid request body: ${zodMessage(parsed.error.issues)}`);
  return parsed.data;
}

function query(c: Context<AppEnv>): { cursor?: string; limit?: number; tenant?: string } {
  const limit = c.req.query('limit');
  const n = limit === undefined ? undefined : Number(limit);
  if (n !== undefined && (!Number.isInteger(n) || n < 1 || n > 1000))
    throw new InvalidInputError(`limit must be an integer in [1, 1000], got ${JSON.stringify(limit)}`);
  const cursor = c.req.query('cursor');
  if (cursor !== undefined && !/^[A-Za-z0-9_]{1,64}$/.test(cursor))
    throw new InvalidInputError('cursor must be the cursor of a previous page');
  const tenant = c.req.query('tenant');
  return {
    ...(cursor === undefined ? {} : { cursor }),
    ...(n === undefined ? {} : { limit: n }),
    ...(tenant === undefined ? {} : { tenant }),
  };
}

const isAdmin = (p: Principal) => p.scopes.includes('admin');

/** 403 unless the caller is an admin, or a tenant_admin of `tenant`. */
export function requireTenantAccess(p: Principal, tenant: string): void {
  if (isAdmin(p)) return;
  if (!p.scopes.includes('tenant_admin'))
    throw new InferenceError('forbidden', 'this API key has no admin scope');
  if (p.tenant !== tenant)
    throw new InferenceError('forbidden', "this API key may not manage another tenant's keys");
}

function requireSomeAdmin(p: Principal): void {
  if (!isAdmin(p) && !p.scopes.includes('tenant_admin'))
    throw new InferenceError('forbidden', 'this API key has no admin or tenant_admin scope');
}

function requireAdmin(p: Principal): void {
  if (!isAdmin(p)) throw new InferenceError('forbidden', 'this API key has no admin scope');
}

/** A tenant_admin may grant its own kinds of scope, never `admin`. */
function requireGrantable(p: Principal, scopes: readonly string[] | undefined): void {
  if (scopes?.includes('admin') && !isAdmin(p))
    throw new InferenceError('forbidden', 'only an admin key may grant the admin scope');
}

function storeOf(c: Context<AppEnv>, deps: TenantRouteDeps): TenantStore {
  if (c.env.DB === undefined) {
    throw new InferenceError(
      'unavailable',
      'the tenant store (the DB binding) is not configured on this edge',
    );
  }
  return new TenantStore(c.env.DB, deps.now);
}

const actorOf = (c: Context<AppEnv>): Actor => {
  const p = c.get('principal');
  return { key: p.id, tenant: p.tenant, requestId: c.get('requestId') };
};

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const msOf = (t: string | null | undefined) =>
  t === undefined ? undefined : t === null ? null : Date.parse(t);

export function tenantView(t: Tenant) {
  return {
    id: t.id,
    name: t.name,
    tier: t.tier,
    models: t.models,
    regions: t.regions,
    quotas: t.quotas,
    created_at: iso(t.created_at),
    updated_at: iso(t.updated_at),
    disabled: t.disabled_at !== null,
    disabled_at: iso(t.disabled_at),
  };
}

/** A key as the API shows it; `last_used` (from the usage counters) where the route read it. */
export function keyView(k: ApiKey, lastUsed?: ReadonlyMap<string, string | null>) {
  return {
    id: k.id,
    tenant: k.tenant,
    name: k.name,
    scopes: k.scopes,
    models: k.models,
    start: k.start,
    created_at: iso(k.created_at),
    updated_at: iso(k.updated_at),
    expires_at: iso(k.expires_at),
    disabled: k.disabled_at !== null,
    disabled_at: iso(k.disabled_at),
    revoked: k.revoked_at !== null,
    revoked_at: iso(k.revoked_at),
    ...(lastUsed === undefined ? {} : { last_used: lastUsed.get(k.id) ?? null }),
  };
}

/** The keys' last uses (usage/recorder.ts lastUsedOf), through this edge's Upstash when it has one. */
function lastUses(c: Context<AppEnv>, keys: readonly ApiKey[]): Promise<Map<string, string | null>> {
  const upstash = c.get('config').upstash;
  return lastUsedOf(
    upstash === undefined ? undefined : (redisFor(upstash) as unknown as LastUsedReader),
    keys,
  );
}

async function tenantOr404(store: TenantStore, id: string): Promise<Tenant> {
  const t = await store.getTenant(id);
  if (t === undefined) throw new InferenceError('not_found', `no tenant '${id.slice(0, 64)}'`);
  return t;
}

/** The key, 404 when there is none, 403 when it is another tenant's (after the 404: ids are not secret). */
async function keyFor(c: Context<AppEnv>, store: TenantStore, id: string): Promise<ApiKey> {
  const k = await store.getKey(id);
  if (k === undefined) throw new InferenceError('not_found', `no key '${id.slice(0, 64)}'`);
  requireTenantAccess(c.get('principal'), k.tenant);
  return k;
}

function checkTier(c: Context<AppEnv>, tier: string | undefined): void {
  if (tier !== undefined && rateTierOf(c.get('config').rateTiers, tier) === undefined) {
    throw new InvalidInputError(
      `tier must be one of ${Object.keys(c.get('config').rateTiers).join(', ')}, got ${JSON.stringify(tier.slice(0, 64))}`,
    );
  }
}

/** A key's models must stay within its tenant's. */
function checkModels(models: string[] | null | undefined, tenant: Tenant): void {
  if (models === null || models === undefined || tenant.models.includes('*')) return;
  const outside = models.filter((m) => !tenant.models.includes(m));
  if (outside.length > 0) {
    throw new InvalidInputError(
      `models must be within the tenant's (${tenant.models.join(', ')}); not allowed: ${outside.join(', ')}`,
    );
  }
}

/** After a change: the projection in KV (awaited), this isolate's cache, the epochs every PoP reads. */
async function publish(
  c: Context<AppEnv>,
  deps: TenantRouteDeps,
  store: TenantStore,
  change: { key?: ApiKey; tenant?: Tenant },
): Promise<void> {
  const kv = c.env.KEYS;
  if (change.key !== undefined) {
    const secrets = await store.secretsOf(change.key.id);
    if (kv !== undefined) await projectKey(kv, change.key, secrets);
    for (const s of secrets) deps.resolver.forget({ hash: s.hash });
  }
  if (change.tenant !== undefined) {
    if (kv !== undefined) await projectTenant(kv, change.tenant);
    deps.resolver.forget({ tenant: change.tenant.id });
  }
  const upstash = c.get('config').upstash;
  if (upstash !== undefined) {
    await bumpEpochs(redisFor(upstash), {
      ...(change.key === undefined ? {} : { key: change.key }),
      ...(change.tenant === undefined ? {} : { tenant: change.tenant }),
    }).catch((err: unknown) =>
      // The change stands (D1, KV); other PoPs then follow within their caches' bound instead of about a second.
      console.warn(
        JSON.stringify({ level: 'warn', msg: 'revocation epoch not written', error: String(err) }),
      ),
    );
  }
}

export function tenantRoutes(deps: TenantRouteDeps) {
  const keyEnv = (c: Context<AppEnv>): KeyEnv => c.get('config').keyEnv;
  const newSecret = async (c: Context<AppEnv>) => {
    const key = generateKey(keyEnv(c));
    return { key, hash: await sha256Hex(key), start: keyStart(key) };
  };

  const handlers = {
    async createTenant(c: Context<AppEnv>) {
      requireAdmin(c.get('principal'));
      const input = await body(c, TenantCreate);
      checkTier(c, input.tier);
      const store = storeOf(c, deps);
      const tenant = await store.createTenant(
        {
          name: input.name,
          tier: input.tier,
          models: input.models ?? ['*'],
          regions: input.regions ?? ['*'],
          quotas: input.quotas ?? {},
        },
        actorOf(c),
      );
      await publish(c, deps, store, { tenant });
      return c.json(tenantView(tenant), 201);
    },

    async listTenants(c: Context<AppEnv>) {
      const p = c.get('principal');
      requireSomeAdmin(p);
      const q = query(c);
      const page = await storeOf(c, deps).listTenants({ ...q, ...(isAdmin(p) ? {} : { only: p.tenant }) });
      return c.json({ tenants: page.items.map(tenantView), cursor: page.cursor });
    },

    async getTenant(c: Context<AppEnv>) {
      const id = c.req.param('id') as string;
      const store = storeOf(c, deps);
      const tenant = await tenantOr404(store, id);
      requireTenantAccess(c.get('principal'), tenant.id);
      return c.json(tenantView(tenant));
    },

    async patchTenant(c: Context<AppEnv>) {
      requireAdmin(c.get('principal'));
      const id = c.req.param('id') as string;
      const patch = await body(c, TenantPatch);
      checkTier(c, patch.tier);
      const store = storeOf(c, deps);
      await tenantOr404(store, id);
      const tenant = (await store.updateTenant(id, patch, actorOf(c))) as Tenant;
      await publish(c, deps, store, { tenant });
      return c.json(tenantView(tenant));
    },

    async createKey(c: Context<AppEnv>) {
      const p = c.get('principal');
      requireSomeAdmin(p);
      const input = await body(c, KeyCreate);
      requireTenantAccess(p, input.tenant);
      requireGrantable(p, input.scopes);
      const store = storeOf(c, deps);
      const tenant = await tenantOr404(store, input.tenant);
      checkModels(input.models, tenant);
      const expires = msOf(input.expires_at) ?? null;
      if (expires !== null && expires <= deps.now())
        throw new InvalidInputError('expires_at must be in the future');
      const secret = await newSecret(c);
      const key = await store.createKey(
        {
          tenant: tenant.id,
          name: input.name,
          scopes: [...new Set(input.scopes)],
          models: input.models ?? null,
          expires_at: expires,
        },
        secret,
        actorOf(c),
      );
      await publish(c, deps, store, { key, tenant });
      return c.json({ key: secret.key, record: keyView(key) }, 201);
    },

    async listKeys(c: Context<AppEnv>) {
      const p = c.get('principal');
      requireSomeAdmin(p);
      const q = query(c);
      const tenant = q.tenant ?? (isAdmin(p) ? undefined : p.tenant);
      if (tenant !== undefined) requireTenantAccess(p, tenant);
      const page = await storeOf(c, deps).listKeys({ ...q, ...(tenant === undefined ? {} : { tenant }) });
      const used = await lastUses(c, page.items);
      return c.json({ keys: page.items.map((k) => keyView(k, used)), cursor: page.cursor });
    },

    async getKey(c: Context<AppEnv>) {
      const store = storeOf(c, deps);
      const key = await keyFor(c, store, c.req.param('id') as string);
      return c.json(keyView(key, await lastUses(c, [key])));
    },

    async patchKey(c: Context<AppEnv>) {
      const store = storeOf(c, deps);
      const current = await keyFor(c, store, c.req.param('id') as string);
      const patch = await body(c, KeyPatch);
      requireGrantable(c.get('principal'), patch.scopes);
      checkModels(patch.models, await tenantOr404(store, current.tenant));
      const { expires_at, ...rest } = patch;
      const key = (await store.updateKey(
        current.id,
        { ...rest, ...(expires_at === undefined ? {} : { expires_at: msOf(expires_at) ?? null }) },
        actorOf(c),
      )) as ApiKey;
      await publish(c, deps, store, { key });
      return c.json(keyView(key));
    },

    async rotateKey(c: Context<AppEnv>) {
      const store = storeOf(c, deps);
      const current = await keyFor(c, store, c.req.param('id') as string);
      const input = await body(c, Rotate, true);
      const now = deps.now();
      if (current.revoked_at !== null)
        throw new InferenceError('conflict', 'a revoked key cannot be rotated');
      if (current.expires_at !== null && current.expires_at <= now)
        throw new InferenceError('conflict', 'an expired key cannot be rotated: create a new key');
      const secret = await newSecret(c);
      const key = (await store.rotateKey(
        current.id,
        secret,
        now + (input.grace_seconds ?? 0) * 1000,
        actorOf(c),
      )) as ApiKey;
      await publish(c, deps, store, { key });
      return c.json({ key: secret.key, record: keyView(key) });
    },

    async revokeKey(c: Context<AppEnv>) {
      const store = storeOf(c, deps);
      const current = await keyFor(c, store, c.req.param('id') as string);
      const key = (await store.revokeKey(current.id, actorOf(c))) as ApiKey;
      await publish(c, deps, store, { key });
      return c.json({ record: keyView(key) });
    },

    async audit(c: Context<AppEnv>) {
      const p = c.get('principal');
      requireSomeAdmin(p);
      const q = query(c);
      if (
        q.cursor !== undefined &&
        !(/^[0-9]{1,16}$/.test(q.cursor) && Number.isSafeInteger(Number(q.cursor)))
      )
        throw new InvalidInputError('cursor must be the cursor of a previous page');
      const tenant = q.tenant ?? (isAdmin(p) ? undefined : p.tenant);
      if (tenant !== undefined) requireTenantAccess(p, tenant);
      const page = await storeOf(c, deps).listAudit({ ...q, ...(tenant === undefined ? {} : { tenant }) });
      return c.json({
        entries: page.items.map((e) => ({ ...e, at: iso(e.at) })),
        cursor: page.cursor,
      });
    },
  };
  // A failing D1 or KV is a 503 for every route, not a 500.
  type Handler = (c: Context<AppEnv>) => Promise<Response>;
  const guarded =
    (h: Handler): Handler =>
    (c) =>
      storeCall(() => h(c));
  return Object.fromEntries(Object.entries(handlers).map(([name, h]) => [name, guarded(h)])) as Record<
    keyof typeof handlers,
    Handler
  >;
}
