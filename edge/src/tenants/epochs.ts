/**
 * Revocation epochs: per key and per tenant, the `version` of its newest change (store.ts bumps it), kept in the
 * shared Upstash store where every PoP reads it. A cached key record whose version is older than its epoch is
 * stale and is read again from D1, so a revoke, disable, rotation or re-scope reaches every PoP in about a second
 * instead of the caches' TTLs. An epoch lives a day: longer than every cache it corrects (isolate 10 s, KV ~60 s).
 */
import type { Redis } from '@upstash/redis/cloudflare';
import type { ApiKey, Tenant } from './store.ts';

export const EPOCH_TTL_SECONDS = 24 * 3600;

export const epochKeys = {
  key: (id: string) => `edge:epoch:k:${id}`,
  tenant: (id: string) => `edge:epoch:t:${id}`,
};

/** Publishes the new versions of a changed key and/or tenant. */
export async function bumpEpochs(
  redis: Pick<Redis, 'set'>,
  change: { key?: Pick<ApiKey, 'id' | 'version'>; tenant?: Pick<Tenant, 'id' | 'version'> },
): Promise<void> {
  await Promise.all([
    change.key === undefined
      ? undefined
      : redis.set(epochKeys.key(change.key.id), change.key.version, { ex: EPOCH_TTL_SECONDS }),
    change.tenant === undefined
      ? undefined
      : redis.set(epochKeys.tenant(change.tenant.id), change.tenant.version, { ex: EPOCH_TTL_SECONDS }),
  ]);
}

/** Whether a principal read at `versions` is older than the epochs read now (null: no epoch stored). */
export function isStale(
  versions: { key: number; tenant: number },
  epochs: readonly [unknown, unknown],
): boolean {
  const newer = (epoch: unknown, version: number) =>
    epoch !== null && epoch !== undefined && Number(epoch) > version;
  return newer(epochs[0], versions.key) || newer(epochs[1], versions.tenant);
}
