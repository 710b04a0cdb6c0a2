/**
 * Usage reports from the counters the recorder writes (recorder.ts): rows grouped by any of tenant, key, model,
 * day and hour, with requests, items, job rows, items by served_by, refusals by code, origin compute, and what the
 * edge saved (items answered at the edge or from cache x the origin's mean compute per item over the report), and
 * their CSV and NDJSON forms.
 */
import { SEP } from './recorder.ts';

export const GROUPS = ['tenant', 'key', 'model', 'day', 'hour'] as const;
export type Group = (typeof GROUPS)[number];

export interface UsageRow {
  tenant?: string;
  key?: string;
  model?: string;
  day?: string;
  hour?: string;
  requests: number;
  items: number;
  job_rows: number;
  served_by: Record<string, number>;
  refused: Record<string, number>;
  origin_compute_ms: number;
  /** Items answered at the edge or from cache x the origin's mean compute per item; null with no origin items. */
  edge_saved_ms: number | null;
  /** The key's last use (minute precision, ISO time), when grouped by key. */
  last_used?: string | null;
}

export interface UsageReport {
  rows: UsageRow[];
  /** Origin compute per origin-answered item over the report, ms (null without any). */
  origin_ms_per_item: number | null;
}

/** One tenant-day hash as HGETALL returns it (field -> count). */
export interface DayCounts {
  tenant: string;
  day: string;
  fields: Record<string, unknown>;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** Aggregates tenant-day counters into rows grouped by `groups` (in that order), sorted by their group values. */
export function buildReport(
  days: readonly DayCounts[],
  groups: readonly Group[],
  lastUsed: ReadonlyMap<string, number>,
): UsageReport {
  const rows = new Map<string, UsageRow & { oc_us: number }>();
  for (const { tenant, day, fields } of days) {
    for (const [field, raw] of Object.entries(fields ?? {})) {
      const parts = field.split(SEP);
      if (parts.length !== 4) continue;
      const [key, model, hour, metric] = parts as [string, string, string, string];
      const n = Number(raw);
      if (!Number.isFinite(n)) continue;
      const dims: Record<Group, string> = { tenant, key, model, day, hour };
      const id = groups.map((g) => dims[g]).join('\n');
      let row = rows.get(id);
      if (row === undefined) {
        row = {
          ...Object.fromEntries(groups.map((g) => [g, dims[g]])),
          requests: 0,
          items: 0,
          job_rows: 0,
          served_by: { edge: 0, origin: 0, cache: 0, 'edge-degraded': 0 },
          refused: {},
          origin_compute_ms: 0,
          edge_saved_ms: null,
          oc_us: 0,
        };
        if (groups.includes('key')) row.last_used = null;
        rows.set(id, row);
      }
      if (metric === 'req') row.requests += n;
      else if (metric === 'items') row.items += n;
      else if (metric === 'rows') row.job_rows += n;
      else if (metric === 'oc') row.oc_us += n;
      else if (metric.startsWith('sb:')) {
        const path = metric.slice(3);
        row.served_by[path] = (row.served_by[path] ?? 0) + n;
      } else if (metric.startsWith('rf:')) {
        const code = metric.slice(3);
        row.refused[code] = (row.refused[code] ?? 0) + n;
      }
    }
  }
  let originItems = 0;
  let originUs = 0;
  for (const r of rows.values()) {
    originItems += r.served_by.origin ?? 0;
    originUs += r.oc_us;
  }
  const perItem = originItems === 0 ? null : originUs / 1000 / originItems;
  const out: UsageRow[] = [];
  for (const { oc_us, ...r } of rows.values()) {
    r.origin_compute_ms = round3(oc_us / 1000);
    r.edge_saved_ms =
      perItem === null ? null : round3(((r.served_by.edge ?? 0) + (r.served_by.cache ?? 0)) * perItem);
    if (r.key !== undefined && r.last_used !== undefined) {
      const minute = lastUsed.get(r.key);
      r.last_used = minute === undefined ? null : new Date(minute * 60_000).toISOString();
    }
    out.push(r);
  }
  out.sort((a, b) => {
    for (const g of groups) {
      const x = a[g] ?? '';
      const y = b[g] ?? '';
      if (x !== y) return x < y ? -1 : 1;
    }
    return 0;
  });
  return { rows: out, origin_ms_per_item: perItem === null ? null : round3(perItem) };
}

const SERVED = ['edge', 'origin', 'cache', 'edge-degraded'] as const;

/** One CSV field, quoted when it must be (RFC 4180); a leading =, +, - or @ gets a ' so sheets don't run it. */
function csvField(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '';
  let s = String(v);
  if (typeof v === 'string' && s !== '-' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The report as CSV: the group columns, then the counts (refusals as a total and `code:n;...`). */
export function toCsv(rows: readonly UsageRow[], groups: readonly Group[]): string {
  const head = [
    ...groups,
    'requests',
    'items',
    'job_rows',
    ...SERVED.map((p) => `served_${p.replace('-', '_')}`),
    'refused',
    'refused_by_code',
    'origin_compute_ms',
    'edge_saved_ms',
    ...(groups.includes('key') ? ['last_used'] : []),
  ];
  const lines = [head.join(',')];
  for (const r of rows) {
    const refused = Object.entries(r.refused);
    lines.push(
      [
        ...groups.map((g) => csvField(r[g])),
        r.requests,
        r.items,
        r.job_rows,
        ...SERVED.map((p) => r.served_by[p] ?? 0),
        refused.reduce((n, [, k]) => n + k, 0),
        csvField(refused.map(([code, n]) => `${code}:${n}`).join(';')),
        r.origin_compute_ms,
        csvField(r.edge_saved_ms),
        ...(groups.includes('key') ? [csvField(r.last_used)] : []),
      ].join(','),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** The report as NDJSON: one row per line. */
export function toNdjson(rows: readonly UsageRow[]): string {
  return rows.map((r) => `${JSON.stringify(r)}\n`).join('');
}
