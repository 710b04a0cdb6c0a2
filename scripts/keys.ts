/**
 * `npm run keys -- <command> [...] [--url <edge> --key <admin key>]`: tenants, API keys and usage at a running edge
 * (the admin API, edge/src/tenants/routes.ts, and GET /v1/usage), as readable tables. Without --url/--key it asks
 * the stack `npm start` is running (.wrangler/local-stack.json). An admin key manages every tenant; a tenant_admin
 * key its own tenant's keys, audit and usage.
 *
 *   tenant-create --name N --tier T [--models a,b] [--regions r1,r2] [--items-per-day N] [--items-per-month N]
 *   tenants                                   every tenant (all pages)
 *   create --tenant ID --name N [--scopes infer,reviewer] [--models a,b] [--expires 2027-01-01T00:00:00Z]
 *                                             a new key (scopes default to infer); its secret is printed once
 *   list [--tenant ID] [--limit N] [--cursor C] [--all]
 *                                             keys, one page (--all follows the cursor to the end)
 *   show ID                                   one key's record
 *   rotate ID [--grace 3600]                  a new secret, printed once; the old one works --grace seconds more
 *   revoke ID                                 for good: 401 key_revoked from its next request
 *   disable ID | enable ID                    off (401 key_disabled) and on again
 *   audit [--tenant ID] [--limit N] [--cursor C] [--all]
 *                                             the audit log, newest first
 *   usage [--tenant ID] [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--group-by key|model|day|hour]
 *         [--format table|json|csv|ndjson]    requests, items and who answered them; csv/ndjson as the edge sends them
 *   import-bootstrap --file api-keys.json [--tenant-name bootstrap] [--dry-run]
 *                                             the records of the API_KEYS secret into the tenant store: a tenant per
 *                                             record.tenant (else --tenant-name), a key per record, each new secret
 *                                             printed once as a JSON line {name, tenant, key_id, key}
 *
 * A refusal of the edge prints `<code>: <message>` and exits 1; a usage error prints the usage and exits 2. The admin
 * key is never printed.
 */
import { readFileSync } from 'node:fs';
import { ApiError, type EdgeClient, type EdgeComponents, unwrap } from '../client/src/index.ts';
import { GROUPS, type Group, type UsageRow } from '../edge/src/usage/report.ts';
import { adminClient, adminTarget, arg, renderTable, unwrapJson } from './admin-client.ts';

type Schemas = EdgeComponents['schemas'];

/** Mirrors KEY_SCOPES in edge/src/config.ts (not imported: that module is typed against the Worker's Env). */
export const SCOPES = ['infer', 'admin', 'reviewer', 'tenant_admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** A tenant and a key's record (never its secret) as the admin API answers them. */
export type TenantView = Schemas['Tenant'];
export type KeyView = Schemas['ApiKey'];

/** What usage can be grouped by, and a usage row: the edge's own (edge/src/usage/report.ts). */
export const GROUP_BY = GROUPS;
export type GroupBy = Group;
export type { UsageRow };
export const FORMATS = ['table', 'json', 'csv', 'ndjson'] as const;
export type Format = (typeof FORMATS)[number];

/** What the usage table reads of GET /v1/usage's answer. */
export type UsageAnswer = Pick<Schemas['Usage'], 'tenant' | 'from' | 'to' | 'group_by' | 'rows' | 'dropped'>;

/** One admin request: what a command sends. */
export interface AdminRequest<Body = unknown> {
  method: 'GET' | 'POST' | 'PATCH';
  path: string;
  body?: Body;
}

/** Wrong or missing arguments: the message and the usage, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export const USAGE = `usage: npm run keys -- <command> [options] [--url <edge> --key <admin key>]
  tenant-create --name N --tier T [--models a,b] [--regions r1,r2] [--items-per-day N] [--items-per-month N]
  tenants
  create --tenant ID --name N [--scopes infer,reviewer] [--models a,b] [--expires 2027-01-01T00:00:00Z]
  list [--tenant ID] [--limit N] [--cursor C] [--all]
  show ID
  rotate ID [--grace 3600]
  revoke ID
  disable ID
  enable ID
  audit [--tenant ID] [--limit N] [--cursor C] [--all]
  usage [--tenant ID] [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--group-by key|model|day|hour] [--format table|json|csv|ndjson]
  import-bootstrap --file api-keys.json [--tenant-name bootstrap] [--dry-run]`;

export const COMMANDS = [
  'tenant-create',
  'tenants',
  'create',
  'list',
  'show',
  'rotate',
  'revoke',
  'disable',
  'enable',
  'audit',
  'usage',
  'import-bootstrap',
] as const;
export type Command = (typeof COMMANDS)[number];

// ---------------------------------------------------------------------------------------------------------------
// Arguments

/** Flags that take no value. */
const SWITCHES = new Set(['all', 'dry-run', 'help']);

/** The arguments that are not flags or flag values: the command, then its ID. */
export function positionals(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a.startsWith('--')) {
      if (!SWITCHES.has(a.slice(2))) i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

const has = (name: string, argv: readonly string[]) => argv.includes(`--${name}`);

/** `--name value`; undefined when the flag is absent, a UsageError when it has no value. */
export function flag(name: string, argv: readonly string[]): string | undefined {
  if (!has(name, argv)) return undefined;
  const v = arg(name, argv);
  if (v === undefined || v.startsWith('--')) throw new UsageError(`--${name} needs a value`);
  return v;
}

function required(name: string, argv: readonly string[], command: string, what = 'value'): string {
  const v = flag(name, argv);
  if (v === undefined || v.trim() === '') throw new UsageError(`${command} needs --${name} <${what}>`);
  return v;
}

/** `a,b , c` -> ['a', 'b', 'c']. */
export const csvList = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

function nonEmptyList(name: string, argv: readonly string[]): string[] | undefined {
  const v = flag(name, argv);
  if (v === undefined) return undefined;
  const items = csvList(v);
  if (items.length === 0) throw new UsageError(`--${name} needs a comma-separated list`);
  return items;
}

function integer(name: string, argv: readonly string[], min: number, max: number): number | undefined {
  const v = flag(name, argv);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer in [${min}, ${max}], got ${v}`);
  }
  return n;
}

/** --expires as the API takes it: an ISO 8601 date-time with an offset (a bare date is midnight UTC). */
export function expiresAt(v: string): string {
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(v);
  const withOffset = /^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:?\d{2})$/i.test(v);
  const ms = Date.parse(dateOnly ? `${v}T00:00:00Z` : v);
  if (!(dateOnly || withOffset) || !Number.isFinite(ms)) {
    throw new UsageError(
      `--expires must be a date-time with an offset (2027-01-01T00:00:00Z) or a date (2027-01-01), got ${v}`,
    );
  }
  return new Date(ms).toISOString();
}

function day(name: string, argv: readonly string[]): string | undefined {
  const v = flag(name, argv);
  if (v === undefined) return undefined;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(v) || new Date(`${v}T00:00:00Z`).toISOString().slice(0, 10) !== v) {
    throw new UsageError(`--${name} must be a date YYYY-MM-DD, got ${v}`);
  }
  return v;
}

function oneOf<T extends string>(name: string, argv: readonly string[], values: readonly T[]): T | undefined {
  const v = flag(name, argv);
  if (v !== undefined && !(values as readonly string[]).includes(v)) {
    throw new UsageError(`--${name} must be one of ${values.join('|')}, got ${v}`);
  }
  return v as T | undefined;
}

function queryString(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Requests

/** tenant-create: POST /v1/admin/tenants. */
export function tenantCreateRequest(
  argv: readonly string[],
): Required<AdminRequest<Schemas['TenantCreate']>> {
  const name = required('name', argv, 'tenant-create', 'name');
  const tier = required('tier', argv, 'tenant-create', 'tier');
  const models = nonEmptyList('models', argv);
  const regions = nonEmptyList('regions', argv);
  const perDay = integer('items-per-day', argv, 1, Number.MAX_SAFE_INTEGER);
  const perMonth = integer('items-per-month', argv, 1, Number.MAX_SAFE_INTEGER);
  const quotas = {
    ...(perDay === undefined ? {} : { items_per_day: perDay }),
    ...(perMonth === undefined ? {} : { items_per_month: perMonth }),
  };
  return {
    method: 'POST',
    path: '/v1/admin/tenants',
    body: {
      name,
      tier,
      ...(models === undefined ? {} : { models }),
      ...(regions === undefined ? {} : { regions }),
      ...(Object.keys(quotas).length === 0 ? {} : { quotas }),
    },
  };
}

/** create: POST /v1/admin/keys. */
export function keyCreateRequest(argv: readonly string[]): Required<AdminRequest<Schemas['KeyCreate']>> {
  const tenant = required('tenant', argv, 'create', 'tenant id');
  const name = required('name', argv, 'create', 'name');
  const scopes = nonEmptyList('scopes', argv) ?? ['infer'];
  const bad = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (bad.length > 0)
    throw new UsageError(`--scopes must be of ${SCOPES.join(', ')}; not: ${bad.join(', ')}`);
  const models = nonEmptyList('models', argv);
  const expires = flag('expires', argv);
  return {
    method: 'POST',
    path: '/v1/admin/keys',
    body: {
      tenant,
      name,
      scopes: [...new Set(scopes as Scope[])],
      ...(models === undefined ? {} : { models }),
      ...(expires === undefined ? {} : { expires_at: expiresAt(expires) }),
    },
  };
}

type PageBase = '/v1/admin/keys' | '/v1/admin/tenants' | '/v1/admin/audit';

/** The query of a page of keys, tenants or audit entries: tenant, cursor and limit as given. */
export function pageQuery(base: PageBase, argv: readonly string[], cursor: string | undefined) {
  const tenant = base === '/v1/admin/tenants' ? undefined : flag('tenant', argv);
  return { tenant, cursor, limit: integer('limit', argv, 1, 1000) };
}

/** The same as a path: `?tenant&cursor&limit`. */
export const pagePath = (base: PageBase, argv: readonly string[], cursor: string | undefined): string =>
  `${base}${queryString(pageQuery(base, argv, cursor))}`;

/** show, rotate, revoke, disable, enable: one key by id. */
export function keyRequest(
  command: 'show' | 'rotate' | 'revoke' | 'disable' | 'enable',
  id: string | undefined,
  argv: readonly string[],
): AdminRequest {
  if (id === undefined || id === '')
    throw new UsageError(`${command} needs a key id: npm run keys -- ${command} ID`);
  const path = `/v1/admin/keys/${encodeURIComponent(id)}`;
  switch (command) {
    case 'show':
      return { method: 'GET', path };
    case 'rotate': {
      const grace = integer('grace', argv, 0, 30 * 24 * 3600);
      return {
        method: 'POST',
        path: `${path}/rotate`,
        body: grace === undefined ? {} : { grace_seconds: grace },
      };
    }
    case 'revoke':
      return { method: 'POST', path: `${path}/revoke` };
    case 'disable':
    case 'enable':
      return { method: 'PATCH', path, body: { disabled: command === 'disable' } };
  }
}

/** usage: GET /v1/usage's query; the table asks for JSON. */
export function usageQuery(argv: readonly string[]) {
  const from = day('from', argv);
  const to = day('to', argv);
  if (from !== undefined && to !== undefined && from > to)
    throw new UsageError(`--from ${from} is after --to ${to}`);
  const groupBy = oneOf('group-by', argv, GROUP_BY);
  const format = oneOf('format', argv, FORMATS) ?? 'table';
  const query = {
    from,
    to,
    group_by: groupBy,
    tenant: flag('tenant', argv),
    format: format === 'table' ? 'json' : format,
  } as const;
  return { query, format };
}

/** The same as a path. */
export function usageRequest(argv: readonly string[]): { path: string; format: Format } {
  const { query, format } = usageQuery(argv);
  return { path: `/v1/usage${queryString(query)}`, format };
}

// ---------------------------------------------------------------------------------------------------------------
// Output

/** `2026-12-02T10:11:12.000Z` -> `2026-12-02 10:11` (UTC), null -> `-`. */
export const when = (iso: string | null | undefined): string =>
  iso === null || iso === undefined ? '-' : iso.slice(0, 16).replace('T', ' ');

export function keyState(k: KeyView, now: number): 'revoked' | 'expired' | 'disabled' | 'active' {
  if (k.revoked) return 'revoked';
  if (k.expires_at !== null && Date.parse(k.expires_at) <= now) return 'expired';
  if (k.disabled) return 'disabled';
  return 'active';
}

export function keyTable(keys: readonly KeyView[], now: number): string[] {
  if (keys.length === 0) return ['(no keys)'];
  return renderTable(
    ['id', 'tenant', 'name', 'scopes', 'start', 'created', 'expires', 'last used', 'state'],
    keys.map((k) => [
      k.id,
      k.tenant,
      k.name,
      k.scopes.join(','),
      k.start,
      when(k.created_at),
      when(k.expires_at),
      when(k.last_used ?? null),
      keyState(k, now),
    ]),
  );
}

const quotasText = (q: TenantView['quotas']) =>
  [
    ...(q.items_per_day === undefined ? [] : [`${q.items_per_day}/day`]),
    ...(q.items_per_month === undefined ? [] : [`${q.items_per_month}/month`]),
  ].join(', ') || '-';

export function tenantTable(tenants: readonly TenantView[]): string[] {
  if (tenants.length === 0) return ['(no tenants)'];
  return renderTable(
    ['id', 'name', 'tier', 'models', 'regions', 'quotas', 'created', 'state'],
    tenants.map((t) => [
      t.id,
      t.name,
      t.tier,
      t.models.join(','),
      t.regions.join(','),
      quotasText(t.quotas),
      when(t.created_at),
      t.disabled ? 'disabled' : 'active',
    ]),
  );
}

const cell = (v: unknown): string =>
  v === null || v === undefined
    ? '-'
    : Array.isArray(v)
      ? v.join(',')
      : typeof v === 'object'
        ? JSON.stringify(v)
        : String(v);

/** A record's fields, one a line (a key's `models: null` reads as its tenant's). */
export function recordLines(record: object): string[] {
  return renderTable(
    ['field', 'value'],
    Object.entries(record).map(([k, v]) => [
      k,
      k === 'models' && v === null && 'scopes' in record ? "(the tenant's)" : cell(v),
    ]),
  );
}

/** The answer of create or rotate: the secret once, clearly, then the record. */
export function secretLines(answer: Schemas['CreatedKey'], verb: 'created' | 'rotated'): string[] {
  const r = answer.record;
  return [
    `${verb} key ${r.id} (${r.name}, tenant ${r.tenant}); its secret:`,
    '',
    `  ${answer.key}`,
    '',
    'store it now: it is shown once (the edge keeps only its hash)',
    '',
    ...recordLines(r),
  ];
}

export function auditTable(entries: readonly Schemas['AuditEntry'][]): string[] {
  if (entries.length === 0) return ['(no audit entries)'];
  return renderTable(
    ['at', 'action', 'target', 'tenant', 'actor', 'detail'],
    entries.map((e) => [
      when(e.at),
      e.action,
      e.target,
      e.tenant_id ?? '-',
      e.actor,
      Object.keys(e.detail ?? {}).length === 0 ? '-' : JSON.stringify(e.detail),
    ]),
  );
}

const sum = (r: Record<string, number | undefined>) =>
  Object.values(r).reduce<number>((a, n) => a + (n ?? 0), 0);

/** The usage table: a row per group, a total, and the refusals by code. */
export function usageTable(answer: UsageAnswer): string[] {
  const by = answer.group_by;
  const head = [
    `usage of ${answer.tenant ?? 'every tenant'}, ${answer.from} to ${answer.to}, by ${by.join(', ')}`,
  ];
  if (answer.rows.length === 0) return [...head, '(no usage in this range)'];
  const numbers = (r: UsageRow) => [
    r.requests,
    r.items,
    r.job_rows,
    r.served_by.edge ?? 0,
    r.served_by.origin ?? 0,
    r.served_by.cache ?? 0,
    r.served_by['edge-degraded'] ?? 0,
    sum(r.refused ?? {}),
    r.origin_compute_ms,
  ];
  const group = (r: UsageRow) => by.map((g) => r[g] ?? '-').join(' ');
  const rows = answer.rows.map((r) => [group(r), ...numbers(r).map((n) => String(n ?? 0))]);
  const totals = answer.rows.map(numbers).reduce((a, b) => a.map((x, i) => (x ?? 0) + (b[i] ?? 0)));
  if (answer.rows.length > 1) rows.push(['total', ...totals.map(String)]);
  const refused: Record<string, number> = {};
  for (const r of answer.rows)
    for (const [code, n] of Object.entries(r.refused ?? {})) refused[code] = (refused[code] ?? 0) + n;
  const refusedText = Object.entries(refused)
    .filter(([, n]) => n > 0)
    .sort(([, a], [, b]) => b - a)
    .map(([code, n]) => `${code} ${n}`)
    .join(', ');
  return [
    ...head,
    ...renderTable(
      [
        by.join(',') || 'group',
        'requests',
        'items',
        'job_rows',
        'edge',
        'origin',
        'cache',
        'degraded',
        'refused',
        'origin_compute_ms',
      ],
      rows,
    ),
    ...(refusedText === '' ? [] : [`refused: ${refusedText}`]),
    ...(answer.dropped > 0 ? [`dropped: ${answer.dropped} (not in the rows above)`] : []),
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// import-bootstrap

/** One API_KEYS record (KeyRecord in edge/src/config.ts) with the hash it is filed under. */
export interface BootstrapRecord {
  hash: string;
  name: string;
  models: string[];
  tier: string;
  scopes: Scope[];
  tenant?: string;
}

const RECORD_FIELDS = new Set(['id', 'name', 'models', 'tier', 'scopes', 'tenant']);
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The API_KEYS JSON, checked as the edge checks it (parseApiKeys in edge/src/config.ts). */
export function parseBootstrap(text: string): BootstrapRecord[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`the file is not JSON: ${(err as Error).message}`);
  }
  if (!isObject(json))
    throw new Error('API_KEYS must be a JSON object of {sha256hex: {name, models, tier, ...}}');
  return Object.entries(json).map(([hash, v]) => {
    if (!/^[0-9a-f]{64}$/.test(hash)) {
      throw new Error(
        `API_KEYS keys must be lowercase sha256 hex, got ${JSON.stringify(hash.slice(0, 12))}...`,
      );
    }
    if (!isObject(v) || typeof v.name !== 'string' || v.name === '') {
      throw new Error(`API_KEYS.${hash.slice(0, 8)}….name must be a non-empty string`);
    }
    if (!Array.isArray(v.models) || v.models.some((m) => typeof m !== 'string')) {
      throw new Error(`API_KEYS (${v.name}).models must be an array of model names or ["*"]`);
    }
    if (typeof v.tier !== 'string' || v.tier === '')
      throw new Error(`API_KEYS (${v.name}).tier must be a string`);
    const unknown = Object.keys(v).filter((f) => !RECORD_FIELDS.has(f));
    if (unknown.length > 0)
      throw new Error(`API_KEYS (${v.name}) has unknown field(s) ${unknown.join(', ')}`);
    const scopes = v.scopes ?? ['infer'];
    if (
      !Array.isArray(scopes) ||
      scopes.length === 0 ||
      scopes.some((s) => !(SCOPES as readonly unknown[]).includes(s))
    ) {
      throw new Error(`API_KEYS (${v.name}).scopes must be a non-empty array of ${SCOPES.join(' | ')}`);
    }
    if (v.tenant !== undefined && (typeof v.tenant !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(v.tenant))) {
      throw new Error(`API_KEYS (${v.name}).tenant must be 1-64 letters, digits, _ or -`);
    }
    return {
      hash,
      name: v.name,
      models: v.models as string[],
      tier: v.tier,
      scopes: [...new Set(scopes as Scope[])],
      ...(v.tenant === undefined ? {} : { tenant: v.tenant as string }),
    };
  });
}

/** What import-bootstrap does for one tenant name: reuse a tenant or create one, then its records' keys. */
export interface TenantPlan {
  name: string;
  /** The tenant of that name the store has; undefined: create one with `create`. */
  existing?: TenantView;
  create: { name: string; tier: string; models: string[] };
  records: BootstrapRecord[];
  /** Records skipped because the tenant already has a live key of that name (an earlier import). */
  skipped: BootstrapRecord[];
  warnings: string[];
}

/** The key a record becomes (POST /v1/admin/keys without its tenant id): same name, scopes and models. */
export function keyBodyOf(r: BootstrapRecord): { name: string; scopes: Scope[]; models?: string[] } {
  return { name: r.name, scopes: r.scopes, ...(r.models.includes('*') ? {} : { models: r.models }) };
}

/**
 * Groups the records by tenant (record.tenant, else `fallbackTenant`); a new tenant gets the records' tier and the
 * union of their models (["*"] when one has it). `liveKeyNames` holds, per existing tenant id, the names of its
 * keys that are not revoked: records of those names are skipped, so a second run after a partial one adds only the
 * rest.
 */
export function planImport(
  records: readonly BootstrapRecord[],
  tenants: readonly TenantView[],
  fallbackTenant: string,
  liveKeyNames: ReadonlyMap<string, ReadonlySet<string>> = new Map(),
): TenantPlan[] {
  const groups = new Map<string, BootstrapRecord[]>();
  for (const r of records) {
    const name = r.tenant ?? fallbackTenant;
    groups.set(name, [...(groups.get(name) ?? []), r]);
  }
  return [...groups].map(([name, rs]) => {
    const first = rs[0] as BootstrapRecord;
    const warnings: string[] = [];
    const tiers = [...new Set(rs.map((r) => r.tier))];
    const matches = tenants.filter((t) => t.name === name);
    if (matches.length > 1) {
      throw new Error(
        `${matches.length} tenants are named ${name} (${matches.map((t) => t.id).join(', ')}): rename all but one first`,
      );
    }
    const existing = matches[0];
    if (existing === undefined && tiers.length > 1) {
      warnings.push(
        `records of tenant ${name} have tiers ${tiers.join(', ')}: the tenant gets ${first.tier}`,
      );
    }
    if (existing !== undefined && tiers.some((t) => t !== existing.tier)) {
      warnings.push(
        `tenant ${name} (${existing.id}) exists with tier ${existing.tier}: kept (records: ${tiers.join(', ')})`,
      );
    }
    const models = rs.some((r) => r.models.includes('*')) ? ['*'] : [...new Set(rs.flatMap((r) => r.models))];
    const live = existing === undefined ? undefined : liveKeyNames.get(existing.id);
    return {
      name,
      ...(existing === undefined ? {} : { existing }),
      create: { name, tier: first.tier, models },
      records: rs.filter((r) => !live?.has(r.name)),
      skipped: rs.filter((r) => live?.has(r.name) === true),
      warnings,
    };
  });
}

/** The dry run's lines. */
export function planLines(plan: readonly TenantPlan[]): string[] {
  const lines: string[] = [];
  for (const t of plan) {
    lines.push(
      t.existing === undefined
        ? `would create tenant ${t.name} (tier ${t.create.tier}, models ${t.create.models.join(',')})`
        : `tenant ${t.name} exists: ${t.existing.id} (tier ${t.existing.tier}, models ${t.existing.models.join(',')})`,
    );
    for (const w of t.warnings) lines.push(`  warning: ${w}`);
    for (const r of t.records) {
      const body = keyBodyOf(r);
      lines.push(
        `  would create key ${r.name} (scopes ${body.scopes.join(',')}, models ${body.models?.join(',') ?? "the tenant's"}) for API_KEYS ${r.hash.slice(0, 12)}…`,
      );
    }
    for (const r of t.skipped) lines.push(`  skip ${r.name}: the tenant already has a key of that name`);
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------------------------
// Running

/** Where output goes: lines to stdout and stderr, and a body as the edge sent it. */
export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  raw: (text: string) => void;
}

const consoleIo: Io = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
  raw: (text) => process.stdout.write(text),
};

type Page<T> = { items: T[]; cursor: string | null };

/** One page, or with `all` every page from there (following `cursor`). */
async function pages<T>(
  page: (cursor: string | undefined) => Promise<Page<T>>,
  all: boolean,
  start: string | undefined,
): Promise<Page<T>> {
  const items: T[] = [];
  let cursor = start;
  for (;;) {
    const p = await page(cursor);
    items.push(...p.items);
    if (!all || p.cursor === null) return { items, cursor: p.cursor };
    cursor = p.cursor;
  }
}

type PageQuery = { tenant?: string | undefined; limit?: number | undefined };

const tenantPage =
  (edge: EdgeClient, limit: number) =>
  async (cursor: string | undefined): Promise<Page<TenantView>> => {
    const p = unwrap(await edge.GET('/v1/admin/tenants', { params: { query: { cursor, limit } } }));
    return { items: p.tenants, cursor: p.cursor };
  };

const keyPage =
  (edge: EdgeClient, { tenant, limit }: PageQuery) =>
  async (cursor: string | undefined): Promise<Page<KeyView>> => {
    const p = unwrap(await edge.GET('/v1/admin/keys', { params: { query: { tenant, cursor, limit } } }));
    return { items: p.keys, cursor: p.cursor };
  };

const auditPage =
  (edge: EdgeClient, { tenant, limit }: PageQuery) =>
  async (cursor: string | undefined): Promise<Page<Schemas['AuditEntry']>> => {
    const p = unwrap(await edge.GET('/v1/admin/audit', { params: { query: { tenant, cursor, limit } } }));
    return { items: p.entries, cursor: p.cursor };
  };

const refusal = (err: ApiError) => `${err.code}: ${err.detail || 'no message'}`;

async function importBootstrap(argv: readonly string[], edge: EdgeClient, io: Io): Promise<number> {
  const file = required('file', argv, 'import-bootstrap', 'api-keys.json');
  const fallback = flag('tenant-name', argv) ?? 'bootstrap';
  const dryRun = has('dry-run', argv);
  const records = parseBootstrap(readFileSync(file, 'utf8'));
  if (records.length === 0) {
    io.err(`${file} has no records: nothing to import`);
    return 0;
  }
  const tenants = (await pages(tenantPage(edge, 1000), true, undefined)).items;
  const liveKeyNames = new Map<string, Set<string>>();
  for (const name of new Set(records.map((r) => r.tenant ?? fallback))) {
    for (const t of tenants.filter((x) => x.name === name)) {
      const keys = await pages(keyPage(edge, { tenant: t.id, limit: 1000 }), true, undefined);
      liveKeyNames.set(t.id, new Set(keys.items.filter((k) => !k.revoked).map((k) => k.name)));
    }
  }
  const plan = planImport(records, tenants, fallback, liveKeyNames);
  if (dryRun) {
    for (const line of planLines(plan)) io.out(line);
    io.out('(dry run: nothing created)');
    return 0;
  }
  const imported: BootstrapRecord[] = [];
  const failed: string[] = [];
  for (const t of plan) {
    for (const w of t.warnings) io.err(`warning: ${w}`);
    for (const r of t.skipped) io.err(`skipped ${r.name}: tenant ${t.name} already has a key of that name`);
    let tenantId = t.existing?.id;
    if (tenantId === undefined && t.records.length > 0) {
      try {
        tenantId = unwrap(await edge.POST('/v1/admin/tenants', { body: t.create })).id;
        io.err(
          `created tenant ${t.name}: ${tenantId} (tier ${t.create.tier}, models ${t.create.models.join(',')})`,
        );
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        failed.push(`tenant ${t.name}: ${refusal(err)} (its ${t.records.length} record(s) not imported)`);
        continue;
      }
    }
    for (const r of t.records) {
      try {
        const body = { tenant: tenantId as string, ...keyBodyOf(r) };
        const answer = unwrap(await edge.POST('/v1/admin/keys', { body }));
        io.out(
          JSON.stringify({
            name: r.name,
            tenant: answer.record.tenant,
            key_id: answer.record.id,
            key: answer.key,
          }),
        );
        imported.push(r);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        failed.push(`${r.name} (API_KEYS ${r.hash.slice(0, 12)}…): ${refusal(err)}`);
      }
    }
  }
  if (imported.length > 0) {
    io.err(
      `imported ${imported.length} key(s); the lines on stdout hold their new secrets, shown once: store them now.`,
    );
    io.err(
      'Hand each key to its holder, then remove these records from the API_KEYS secret (by their hash):',
    );
    for (const r of imported) io.err(`  ${r.hash.slice(0, 12)}… ${r.name}`);
  }
  for (const f of failed) io.err(`not imported: ${f}`);
  return failed.length > 0 ? 1 : 0;
}

async function command(command: Command, argv: readonly string[], io: Io): Promise<number> {
  const [, id] = positionals(argv);
  const now = Date.now();
  // Arguments are checked before the target is looked up: a usage error needs no edge.
  const edge = () => adminClient(adminTarget(argv));
  const key = () => ({ path: { id: id as string } });
  switch (command) {
    case 'tenant-create': {
      const { body } = tenantCreateRequest(argv);
      const t = unwrap(await edge().POST('/v1/admin/tenants', { body }));
      for (const line of recordLines(t)) io.out(line);
      return 0;
    }
    case 'tenants': {
      const limit = integer('limit', argv, 1, 1000) ?? 1000;
      const { items } = await pages(tenantPage(edge(), limit), true, undefined);
      for (const line of tenantTable(items)) io.out(line);
      return 0;
    }
    case 'create': {
      const { body } = keyCreateRequest(argv);
      const answer = unwrap(await edge().POST('/v1/admin/keys', { body }));
      for (const line of secretLines(answer, 'created')) io.out(line);
      return 0;
    }
    case 'list': {
      const start = flag('cursor', argv);
      const query = pageQuery('/v1/admin/keys', argv, start);
      const { items, cursor } = await pages(keyPage(edge(), query), has('all', argv), start);
      for (const line of keyTable(items, now)) io.out(line);
      if (cursor !== null) io.out(`(more: add --cursor ${cursor}, or --all)`);
      return 0;
    }
    case 'audit': {
      const start = flag('cursor', argv);
      const query = pageQuery('/v1/admin/audit', argv, start);
      const { items, cursor } = await pages(auditPage(edge(), query), has('all', argv), start);
      for (const line of auditTable(items)) io.out(line);
      if (cursor !== null) io.out(`(more: add --cursor ${cursor}, or --all)`);
      return 0;
    }
    case 'show': {
      keyRequest('show', id, argv);
      const k = unwrap(await edge().GET('/v1/admin/keys/{id}', { params: key() }));
      for (const line of recordLines({ ...k, state: keyState(k, now) })) io.out(line);
      return 0;
    }
    case 'rotate': {
      const body = keyRequest('rotate', id, argv).body as Schemas['KeyRotate'];
      const answer = unwrap(await edge().POST('/v1/admin/keys/{id}/rotate', { params: key(), body }));
      const grace = body.grace_seconds ?? 0;
      for (const line of secretLines(answer, 'rotated')) io.out(line);
      io.out(
        grace > 0
          ? `the previous secret keeps working for ${grace} s`
          : 'the previous secret stopped working now',
      );
      return 0;
    }
    case 'revoke': {
      keyRequest('revoke', id, argv);
      const answer = unwrap(await edge().POST('/v1/admin/keys/{id}/revoke', { params: key() }));
      for (const line of recordLines({ ...answer.record, state: keyState(answer.record, now) })) io.out(line);
      return 0;
    }
    case 'disable':
    case 'enable': {
      const body = keyRequest(command, id, argv).body as Schemas['KeyPatch'];
      const k = unwrap(await edge().PATCH('/v1/admin/keys/{id}', { params: key(), body }));
      for (const line of recordLines({ ...k, state: keyState(k, now) })) io.out(line);
      return 0;
    }
    case 'usage': {
      const { query, format } = usageQuery(argv);
      if (format === 'csv' || format === 'ndjson') {
        io.raw(unwrap(await edge().GET('/v1/usage', { params: { query }, parseAs: 'text' })));
        return 0;
      }
      const answer = unwrapJson(await edge().GET('/v1/usage', { params: { query } }));
      if (format === 'json') io.out(JSON.stringify(answer, null, 2));
      else for (const line of usageTable(answer)) io.out(line);
      return 0;
    }
    case 'import-bootstrap':
      return importBootstrap(argv, edge(), io);
  }
}

/** Runs one command line (argv without node and the script); the exit code: 0, 1 (refused, failed), 2 (usage). */
export async function run(argv: readonly string[], io: Io = consoleIo): Promise<number> {
  const [name] = positionals(argv);
  if (
    name === undefined ||
    name === 'help' ||
    has('help', argv) ||
    !(COMMANDS as readonly string[]).includes(name)
  ) {
    if (name !== undefined && name !== 'help') io.err(`unknown command: ${name}`);
    io.err(USAGE);
    return 2;
  }
  try {
    return await command(name as Command, argv, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(err.message);
      io.err(USAGE);
      return 2;
    }
    if (err instanceof ApiError) {
      io.err(refusal(err));
      return 1;
    }
    const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
    io.err(`${(err as Error).message}${cause === undefined ? '' : ` (${cause.code ?? cause.message})`}`);
    return 1;
  }
}

if (import.meta.main) {
  run(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
