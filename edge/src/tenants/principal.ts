/**
 * A resolved key -> the request's principal, or the refusal that says why not (all 401, distinct codes):
 * `key_revoked`, `key_disabled` (the key or its tenant), `key_expired` (the key, or a rotated-out secret past its
 * grace). Bootstrap keys (API_KEYS) become principals of their own tenant ('bootstrap' unless they name one).
 */
import { InferenceError } from '../../../shared/errors/index.ts';
import type { KeyRecord } from '../config.ts';
import type { Principal } from '../types.ts';
import type { Resolved } from './resolver.ts';
import { type TenantDb, TenantStore } from './store.ts';

const bootstrapped = new WeakMap<KeyRecord, Principal>();

/** The principal of an API_KEYS record (one object per record: no allocation per request). */
export function bootstrapPrincipal(record: KeyRecord): Principal {
  let p = bootstrapped.get(record);
  if (p === undefined) {
    p = {
      ...record,
      tenant: record.tenant ?? 'bootstrap',
      regions: record.regions ?? ['*'],
      quotas: {},
      source: 'bootstrap',
    };
    bootstrapped.set(record, p);
  }
  return p;
}

/** The models a key may call: its own list within its tenant's (`['*']` = all). */
export function effectiveModels(keyModels: string[] | null, tenantModels: string[]): string[] {
  if (keyModels === null) return tenantModels;
  if (tenantModels.includes('*')) return keyModels;
  if (keyModels.includes('*')) return tenantModels;
  return keyModels.filter((m) => tenantModels.includes(m));
}

const refuse = (code: 'key_revoked' | 'key_disabled' | 'key_expired', message: string, realm: string) =>
  new InferenceError(code, message, {
    headers: { 'WWW-Authenticate': `Bearer realm="${realm}", error="invalid_token"` },
  });

/** Throws the refusal of a key that may not be used now; else its principal. */
export function principalOf(r: Resolved, now: number, realm = 'edge'): Principal {
  const { key, tenant } = r;
  if (key.revoked_at !== null) throw refuse('key_revoked', 'this API key was revoked', realm);
  if (key.disabled_at !== null) throw refuse('key_disabled', 'this API key is disabled', realm);
  if (tenant.disabled_at !== null) throw refuse('key_disabled', "this API key's tenant is disabled", realm);
  if (key.expires_at !== null && key.expires_at <= now)
    throw refuse('key_expired', 'this API key has expired', realm);
  if (r.secretExpiresAt !== null && r.secretExpiresAt <= now) {
    throw refuse(
      'key_expired',
      'this secret was rotated and its grace period is over: use the new one',
      realm,
    );
  }
  return {
    id: key.id,
    name: key.name,
    tenant: tenant.id,
    tier: tenant.tier,
    scopes: key.scopes,
    models: effectiveModels(key.models, tenant.models),
    regions: tenant.regions,
    quotas: tenant.quotas,
    source: 'store',
    versions: { key: key.version, tenant: tenant.version },
  };
}

/**
 * The principal a job's chunks run as: its owner key by id (a bootstrap key, else the store's), or undefined when
 * the key is gone or may no longer be used (revoked, disabled, expired: the chunk is refused).
 */
export async function ownerPrincipal(
  bootstrap: ReadonlyMap<string, KeyRecord>,
  db: TenantDb | undefined,
  id: string,
  now: number,
): Promise<Principal | undefined> {
  for (const record of bootstrap.values()) if (record.id === id) return bootstrapPrincipal(record);
  if (db === undefined) return undefined;
  const store = new TenantStore(db);
  const key = await store.getKey(id);
  const tenant = key === undefined ? undefined : await store.getTenant(key.tenant);
  if (key === undefined || tenant === undefined) return undefined;
  try {
    return principalOf({ key, secretExpiresAt: null, tenant }, now);
  } catch (err) {
    if (err instanceof InferenceError) return undefined;
    throw err;
  }
}
