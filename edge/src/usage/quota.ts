/**
 * A tenant's item quotas as counters in the shared Upstash store: one per UTC day and one per UTC month, charged
 * atomically (INCRBY) with a request's items in the rate limiter's round trip (middleware/rate-limit) and with a
 * job's rows when it is submitted (jobs/routes.ts), given back when the request or job is refused.
 */
import type { QuotaCounter } from '../middleware/rate-limit/index.ts';
import type { Quotas } from '../tenants/store.ts';

const DAY_MS = 86_400_000;

/** `YYYY-MM-DD` (UTC) of a time. */
export const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

export const quotaKeys = {
  day: (tenant: string, day: string) => `edge:quota:${tenant}:d:${day}`,
  month: (tenant: string, month: string) => `edge:quota:${tenant}:m:${month}`,
};

/** The counters a tenant's items are charged to at `now` (none when it has no quota). */
export function quotaCounters(tenant: string, quotas: Quotas, now: number): QuotaCounter[] {
  const counters: Array<Omit<QuotaCounter, 'retryAfter'>> = [];
  const day = utcDay(now);
  if (quotas.items_per_day !== undefined) {
    counters.push({
      name: 'items_per_day',
      key: quotaKeys.day(tenant, day),
      limit: quotas.items_per_day,
      resetAt: Math.floor(now / DAY_MS) * DAY_MS + DAY_MS,
      ttlSeconds: 2 * 86_400,
    });
  }
  if (quotas.items_per_month !== undefined) {
    const d = new Date(now);
    counters.push({
      name: 'items_per_month',
      key: quotaKeys.month(tenant, day.slice(0, 7)),
      limit: quotas.items_per_month,
      resetAt: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1),
      ttlSeconds: 32 * 86_400,
    });
  }
  return counters.map((q) => ({ ...q, retryAfter: Math.ceil((q.resetAt - now) / 1000) }));
}
