/**
 * `GET /v1/usage?from=YYYY-MM-DD&to=YYYY-MM-DD&group_by=key|model|day|hour|tenant[,...][&tenant=ID][&format=json|csv|ndjson]`
 *
 * A tenant's metered usage (recorder.ts) over whole UTC days (`to` included; default the last 7 days, at most 93),
 * grouped as asked (default `day`). tenant_admin: its own tenant (another `tenant` is 403); admin: any tenant, or
 * every tenant with usage when `tenant` is left out. JSON: `{tenant, from, to, group_by, rows, origin_ms_per_item,
 * dropped}`, where `dropped` counts the items of usage batches that could not be written (in the range, any tenant):
 * never lost silently.
 */
import type { Context } from 'hono';
import { InferenceError, InvalidInputError } from '../../../shared/errors/index.ts';
import { zodMessage } from '../../../shared/protocol/codec.ts';
import { requireTenantAccess } from '../tenants/routes.ts';
import { storeCall, TenantStore } from '../tenants/store.ts';
import type { AppEnv } from '../types.ts';
import { usageKeys } from './recorder.ts';
import { buildReport, type DayCounts, toCsv, toNdjson } from './report.ts';
import { UsageQuery } from './schemas.ts';

/** The Upstash reads the report makes, in one pipeline. */
export interface UsageReader {
  pipeline(): {
    smembers(key: string): unknown;
    hgetall(key: string): unknown;
    zrange(key: string, start: number, stop: number, options: { withScores: true }): unknown;
    hget(key: string, field: string): unknown;
    exec(): Promise<unknown[]>;
  };
}

export interface UsageRouteDeps {
  reader: (c: Context<AppEnv>) => UsageReader | undefined;
  now: () => number;
}

const DAY_MS = 86_400_000;
const MAX_DAYS = 93;
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export function usageHandler(deps: UsageRouteDeps) {
  return async function usage(c: Context<AppEnv>): Promise<Response> {
    const principal = c.get('principal');
    const parsed = UsageQuery.safeParse(c.req.query());
    if (!parsed.success) throw new InvalidInputError(`invalid query: ${zodMessage(parsed.error.issues)}`);
    const q = parsed.data;
    const isAdmin = principal.scopes.includes('admin');
    const tenant = q.tenant ?? (isAdmin ? undefined : principal.tenant);
    if (tenant === undefined) {
      // every tenant: admins only (checked above by isAdmin)
    } else requireTenantAccess(principal, tenant);
    const to = q.to ?? dayOf(deps.now());
    const from = q.from ?? dayOf(Date.parse(to) - 6 * DAY_MS);
    const span = (Date.parse(to) - Date.parse(from)) / DAY_MS + 1;
    if (!(span >= 1)) throw new InvalidInputError(`from (${from}) must not be after to (${to})`);
    if (span > MAX_DAYS) throw new InvalidInputError(`at most ${MAX_DAYS} days per report, got ${span}`);
    const reader = deps.reader(c);
    if (reader === undefined) {
      throw new InferenceError('unavailable', 'usage needs the shared store (Upstash) on this edge');
    }
    // An admin naming a tenant that does not exist: 404 rather than an empty report.
    if (tenant !== undefined && isAdmin && c.env.DB !== undefined && tenant !== 'bootstrap') {
      const db = c.env.DB;
      const found = await storeCall(() => new TenantStore(db, deps.now).getTenant(tenant));
      if (found === undefined) throw new InferenceError('not_found', `no tenant '${tenant}'`);
    }
    const days = Array.from({ length: span }, (_, i) => dayOf(Date.parse(from) + i * DAY_MS));
    const counts = await readCounts(reader, days, tenant);
    const tenants = [...new Set(counts.map((d) => d.tenant))];
    const lastUsed = q.group_by.includes('key') ? await readLastUsed(reader, tenants) : new Map();
    const dropped = await readDropped(reader, days);
    const report = buildReport(counts, q.group_by, lastUsed);
    const format = q.format ?? 'json';
    if (format === 'csv') {
      return c.body(toCsv(report.rows, q.group_by), 200, {
        'content-type': 'text/csv; charset=utf-8',
        'content-disposition': `attachment; filename="usage-${tenant ?? 'all'}-${from}-${to}.csv"`,
      });
    }
    if (format === 'ndjson') {
      return c.body(toNdjson(report.rows), 200, { 'content-type': 'application/x-ndjson' });
    }
    return c.json({
      tenant: tenant ?? null,
      from,
      to,
      group_by: q.group_by,
      rows: report.rows,
      origin_ms_per_item: report.origin_ms_per_item,
      dropped,
    });
  };
}

async function run(reader: UsageReader, add: (p: ReturnType<UsageReader['pipeline']>) => void) {
  const p = reader.pipeline();
  add(p);
  try {
    return await p.exec();
  } catch (err) {
    throw new InferenceError('unavailable', 'the usage store did not answer; retry shortly', {
      cause: err,
      headers: { 'Retry-After': '1' },
    });
  }
}

async function readCounts(
  reader: UsageReader,
  days: readonly string[],
  tenant: string | undefined,
): Promise<DayCounts[]> {
  let pairs: Array<{ tenant: string; day: string }>;
  if (tenant !== undefined) pairs = days.map((day) => ({ tenant, day }));
  else {
    const members = await run(reader, (p) => {
      for (const day of days) p.smembers(usageKeys.tenants(day));
    });
    pairs = days.flatMap((day, i) =>
      ((members[i] as string[] | null) ?? []).map((t) => ({ tenant: String(t), day })),
    );
  }
  if (pairs.length === 0) return [];
  const hashes = await run(reader, (p) => {
    for (const { tenant: t, day } of pairs) p.hgetall(usageKeys.day(t, day));
  });
  return pairs.map(({ tenant: t, day }, i) => ({
    tenant: t,
    day,
    fields: (hashes[i] as Record<string, unknown> | null) ?? {},
  }));
}

async function readLastUsed(reader: UsageReader, tenants: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (tenants.length === 0) return out;
  const sets = await run(reader, (p) => {
    for (const t of tenants) p.zrange(usageKeys.last(t), 0, -1, { withScores: true });
  });
  tenants.forEach((_, i) => {
    const flat = (sets[i] as unknown[] | null) ?? [];
    // Key ids are unique across tenants.
    for (let j = 0; j + 1 < flat.length; j += 2) out.set(String(flat[j]), Number(flat[j + 1]));
  });
  return out;
}

async function readDropped(reader: UsageReader, days: readonly string[]): Promise<number> {
  const values = await run(reader, (p) => {
    for (const day of days) p.hget(usageKeys.dropped(day), 'items');
  });
  return values.reduce<number>((n, v) => n + (Number(v) || 0), 0);
}
