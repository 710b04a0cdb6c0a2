/**
 * Tenants, API keys and the audit log in D1, the store of record (edge/migrations/). Every query is written once
 * here with bound parameters; a change and its audit entry go in one `batch` (one transaction). Times are ms since
 * the epoch. Takes the narrowest binding type, so tests can count calls.
 *
 * Each change bumps the row's `version`: the value the revocation epoch in Upstash carries (epochs.ts), so a cached
 * record older than the epoch is known to be stale.
 */

import { InferenceError, OverloadedError } from '../../../shared/errors/index.ts';
import type { KeyScope as Scope } from '../config.ts';

/** A tenant's quotas; an absent field is no quota. */
export interface Quotas {
  items_per_day?: number;
  items_per_month?: number;
}

export interface Tenant {
  id: string;
  name: string;
  tier: string;
  models: string[];
  regions: string[];
  quotas: Quotas;
  version: number;
  created_at: number;
  updated_at: number;
  disabled_at: number | null;
}

export interface ApiKey {
  id: string;
  tenant: string;
  name: string;
  scopes: Scope[];
  /** The key's own allow-list, narrower than its tenant's; null: the tenant's. */
  models: string[] | null;
  /** The current secret's first characters. */
  start: string;
  version: number;
  created_at: number;
  updated_at: number;
  expires_at: number | null;
  disabled_at: number | null;
  revoked_at: number | null;
}

/** A secret found by its hash: the key and when this secret stops working (a rotated-out secret's grace end). */
export interface SecretMatch {
  key: ApiKey;
  secretExpiresAt: number | null;
}

export interface AuditEntry {
  id: number;
  at: number;
  actor: string;
  actor_tenant: string | null;
  tenant_id: string | null;
  action: string;
  target: string;
  detail: Record<string, unknown>;
  request_id: string | null;
}

/** Who made a change, for the audit log. */
export interface Actor {
  key: string;
  tenant: string | null;
  requestId: string | null;
}

export type TenantDb = Pick<D1Database, 'prepare' | 'batch'>;

/**
 * Runs work on the tenant store (D1, KV): a failure of the store itself (an outage, a missing migration) becomes
 * 503 `unavailable` + Retry-After, logged with its cause, instead of a 500; the API's own refusals pass as they are.
 */
export async function storeCall<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof InferenceError) throw err;
    console.error(JSON.stringify({ level: 'error', msg: 'tenant store failed', error: String(err) }));
    throw new OverloadedError('unavailable', 'the key store is unavailable; retry shortly', 1);
  }
}

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` for the next page; null on the last. */
  cursor: string | null;
}

type Row = Record<string, unknown>;

const json = <T>(v: unknown, fallback: T): T => {
  if (typeof v !== 'string') return fallback;
  try {
    return JSON.parse(v) as T;
  } catch {
    return fallback;
  }
};
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function tenantOf(r: Row): Tenant {
  return {
    id: String(r.id),
    name: String(r.name),
    tier: String(r.tier),
    models: json(r.models, ['*']),
    regions: json(r.regions, ['*']),
    quotas: json(r.quotas, {}),
    version: Number(r.version),
    created_at: Number(r.created_at),
    updated_at: Number(r.updated_at),
    disabled_at: num(r.disabled_at),
  };
}

function keyOf(r: Row): ApiKey {
  return {
    id: String(r.id),
    tenant: String(r.tenant_id),
    name: String(r.name),
    scopes: json(r.scopes, []),
    models: json(r.models, null),
    start: String(r.start ?? ''),
    version: Number(r.version),
    created_at: Number(r.created_at),
    updated_at: Number(r.updated_at),
    expires_at: num(r.expires_at),
    disabled_at: num(r.disabled_at),
    revoked_at: num(r.revoked_at),
  };
}

function auditOf(r: Row): AuditEntry {
  return {
    id: Number(r.id),
    at: Number(r.at),
    actor: String(r.actor),
    actor_tenant: (r.actor_tenant as string | null) ?? null,
    tenant_id: (r.tenant_id as string | null) ?? null,
    action: String(r.action),
    target: String(r.target),
    detail: json(r.detail, {}),
    request_id: (r.request_id as string | null) ?? null,
  };
}

/** A JSON column's value: undefined (not changed), null, or the JSON text. */
const jsonColumn = (v: unknown) => (v === undefined ? undefined : v === null ? null : JSON.stringify(v));

/**
 * `col = ?` for each column given (undefined: left as it is; names come from this file, never from input), plus
 * the version bump every change makes and `updated_at`.
 */
function assignments(columns: Record<string, unknown>, at: number): { sql: string; values: unknown[] } {
  const set = Object.entries(columns).filter(([, v]) => v !== undefined);
  return {
    sql: [...set.map(([k]) => `${k} = ?`), 'version = version + 1', 'updated_at = ?'].join(', '),
    values: [...set.map(([, v]) => v), at],
  };
}

/** The key columns plus its newest secret's `start`. */
const KEY_SELECT = `SELECT k.*, (SELECT s.start FROM key_secrets s WHERE s.key_id = k.id ORDER BY s.created_at DESC, s.rowid DESC LIMIT 1) AS start FROM api_keys k`;

/** A key by one of its secrets' hash, with that secret's end (primary-key lookup on key_secrets). */
export const FIND_SECRET = `SELECT k.*, m.expires_at AS secret_expires_at, (SELECT s.start FROM key_secrets s WHERE s.key_id = k.id ORDER BY s.created_at DESC, s.rowid DESC LIMIT 1) AS start FROM key_secrets m JOIN api_keys k ON k.id = m.key_id WHERE m.hash = ?`;

/** A new id: prefix + 16 hex characters from the CSPRNG. */
export function newId(prefix: 'ten' | 'key'): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return `${prefix}_${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

const PAGE_MAX = 1000;

function pageLimit(limit: number | undefined): number {
  const n = limit ?? 100;
  if (!Number.isInteger(n) || n < 1 || n > PAGE_MAX)
    throw new TypeError(`limit must be an integer in [1, ${PAGE_MAX}], got ${n}`);
  return n;
}

export class TenantStore {
  readonly #db: TenantDb;
  readonly #now: () => number;

  constructor(db: TenantDb, now: () => number = Date.now) {
    this.#db = db;
    this.#now = now;
  }

  #audit(actor: Actor, action: string, tenant: string | null, target: string, detail: object, at: number) {
    return this.#db
      .prepare(
        'INSERT INTO audit_log (at, actor, actor_tenant, tenant_id, action, target, detail, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .bind(at, actor.key, actor.tenant, tenant, action, target, JSON.stringify(detail), actor.requestId);
  }

  async createTenant(
    input: { name: string; tier: string; models: string[]; regions: string[]; quotas: Quotas },
    actor: Actor,
  ): Promise<Tenant> {
    const at = this.#now();
    const tenant: Tenant = {
      id: newId('ten'),
      ...input,
      version: 1,
      created_at: at,
      updated_at: at,
      disabled_at: null,
    };
    await this.#db.batch([
      this.#db
        .prepare(
          'INSERT INTO tenants (id, name, tier, models, regions, quotas, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)',
        )
        .bind(
          tenant.id,
          tenant.name,
          tenant.tier,
          JSON.stringify(tenant.models),
          JSON.stringify(tenant.regions),
          JSON.stringify(tenant.quotas),
          at,
          at,
        ),
      this.#audit(actor, 'tenant.create', tenant.id, tenant.id, input, at),
    ]);
    return tenant;
  }

  async getTenant(id: string): Promise<Tenant | undefined> {
    const r = await this.#db.prepare('SELECT * FROM tenants WHERE id = ?').bind(id).first<Row>();
    return r === null ? undefined : tenantOf(r);
  }

  /** Tenants by creation, `cursor` from the previous page. */
  async listTenants(options: { cursor?: string; limit?: number; only?: string } = {}): Promise<Page<Tenant>> {
    const limit = pageLimit(options.limit);
    const after = options.cursor ?? '';
    const { results } = await this.#db
      .prepare(
        `SELECT * FROM tenants WHERE id > ?${options.only === undefined ? '' : ' AND id = ?'} ORDER BY id LIMIT ?`,
      )
      .bind(...(options.only === undefined ? [after, limit + 1] : [after, options.only, limit + 1]))
      .all<Row>();
    const items = results.slice(0, limit).map(tenantOf);
    return { items, cursor: results.length > limit ? (items.at(-1)?.id ?? null) : null };
  }

  /** Applies `patch` (only the fields given), bumps the version; undefined when there is no such tenant. */
  async updateTenant(
    id: string,
    patch: Partial<Pick<Tenant, 'name' | 'tier' | 'models' | 'regions' | 'quotas'>> & { disabled?: boolean },
    actor: Actor,
  ): Promise<Tenant | undefined> {
    if ((await this.getTenant(id)) === undefined) return undefined;
    const at = this.#now();
    const set = assignments(
      {
        name: patch.name,
        tier: patch.tier,
        models: jsonColumn(patch.models),
        regions: jsonColumn(patch.regions),
        quotas: jsonColumn(patch.quotas),
        disabled_at: patch.disabled === undefined ? undefined : patch.disabled ? at : null,
      },
      at,
    );
    const [, changed] = await this.#db.batch<Row>([
      this.#db.prepare(`UPDATE tenants SET ${set.sql} WHERE id = ?`).bind(...set.values, id),
      this.#db.prepare('SELECT * FROM tenants WHERE id = ?').bind(id),
      this.#audit(actor, 'tenant.update', id, id, patch, at),
    ]);
    const row = changed?.results[0];
    return row === undefined ? undefined : tenantOf(row);
  }

  /** A key with its first secret (`hash`, `start`). */
  async createKey(
    input: {
      tenant: string;
      name: string;
      scopes: Scope[];
      models: string[] | null;
      expires_at: number | null;
    },
    secret: { hash: string; start: string },
    actor: Actor,
  ): Promise<ApiKey> {
    const at = this.#now();
    const key: ApiKey = {
      id: newId('key'),
      ...input,
      start: secret.start,
      version: 1,
      created_at: at,
      updated_at: at,
      disabled_at: null,
      revoked_at: null,
    };
    await this.#db.batch([
      this.#db
        .prepare(
          'INSERT INTO api_keys (id, tenant_id, name, scopes, models, version, created_at, updated_at, expires_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?)',
        )
        .bind(
          key.id,
          key.tenant,
          key.name,
          JSON.stringify(key.scopes),
          key.models === null ? null : JSON.stringify(key.models),
          at,
          at,
          key.expires_at,
        ),
      this.#db
        .prepare('INSERT INTO key_secrets (hash, key_id, start, created_at) VALUES (?, ?, ?, ?)')
        .bind(secret.hash, key.id, secret.start, at),
      this.#audit(
        actor,
        'key.create',
        key.tenant,
        key.id,
        {
          name: key.name,
          scopes: key.scopes,
          models: key.models,
          expires_at: key.expires_at,
          start: key.start,
        },
        at,
      ),
    ]);
    return key;
  }

  async getKey(id: string): Promise<ApiKey | undefined> {
    const r = await this.#db.prepare(`${KEY_SELECT} WHERE k.id = ?`).bind(id).first<Row>();
    return r === null ? undefined : keyOf(r);
  }

  async listKeys(options: { tenant?: string; cursor?: string; limit?: number } = {}): Promise<Page<ApiKey>> {
    const limit = pageLimit(options.limit);
    const after = options.cursor ?? '';
    const stmt =
      options.tenant === undefined
        ? this.#db.prepare(`${KEY_SELECT} WHERE k.id > ? ORDER BY k.id LIMIT ?`).bind(after, limit + 1)
        : this.#db
            .prepare(`${KEY_SELECT} WHERE k.tenant_id = ? AND k.id > ? ORDER BY k.id LIMIT ?`)
            .bind(options.tenant, after, limit + 1);
    const { results } = await stmt.all<Row>();
    const items = results.slice(0, limit).map(keyOf);
    return { items, cursor: results.length > limit ? (items.at(-1)?.id ?? null) : null };
  }

  /** A key's secrets: their hashes and ends (to refresh their projections). */
  async secretsOf(keyId: string): Promise<Array<{ hash: string; expiresAt: number | null }>> {
    const { results } = await this.#db
      .prepare('SELECT hash, expires_at FROM key_secrets WHERE key_id = ?')
      .bind(keyId)
      .all<{ hash: string; expires_at: number | null }>();
    return results.map((r) => ({ hash: r.hash, expiresAt: num(r.expires_at) }));
  }

  /** The key whose secret hashes to `hash`, by primary key (constant cost whatever the number of keys). */
  async findSecret(hash: string): Promise<SecretMatch | undefined> {
    const r = await this.#db.prepare(FIND_SECRET).bind(hash).first<Row>();
    return r === null ? undefined : { key: keyOf(r), secretExpiresAt: num(r.secret_expires_at) };
  }

  async updateKey(
    id: string,
    patch: Partial<Pick<ApiKey, 'name' | 'scopes' | 'models' | 'expires_at'>> & { disabled?: boolean },
    actor: Actor,
    action = 'key.update',
  ): Promise<ApiKey | undefined> {
    const at = this.#now();
    const set = assignments(
      {
        name: patch.name,
        scopes: jsonColumn(patch.scopes),
        models: jsonColumn(patch.models),
        expires_at: patch.expires_at,
        disabled_at: patch.disabled === undefined ? undefined : patch.disabled ? at : null,
      },
      at,
    );
    const key = await this.getKey(id);
    if (key === undefined) return undefined;
    const [, changed] = await this.#db.batch<Row>([
      this.#db.prepare(`UPDATE api_keys SET ${set.sql} WHERE id = ?`).bind(...set.values, id),
      this.#db.prepare(`${KEY_SELECT} WHERE k.id = ?`).bind(id),
      this.#audit(actor, action, key.tenant, id, patch, at),
    ]);
    const row = changed?.results[0];
    return row === undefined ? undefined : keyOf(row);
  }

  /**
   * A new current secret; every other one stops working at `graceUntil` at the latest (one already ending sooner
   * keeps its end; a rotation with no grace ends them all now, as after a leak).
   */
  async rotateKey(
    id: string,
    secret: { hash: string; start: string },
    graceUntil: number,
    actor: Actor,
  ): Promise<ApiKey | undefined> {
    const at = this.#now();
    const key = await this.getKey(id);
    if (key === undefined) return undefined;
    const [, , , changed] = await this.#db.batch<Row>([
      this.#db
        .prepare(
          'UPDATE key_secrets SET expires_at = ? WHERE key_id = ? AND (expires_at IS NULL OR expires_at > ?)',
        )
        .bind(graceUntil, id, graceUntil),
      this.#db
        .prepare('INSERT INTO key_secrets (hash, key_id, start, created_at) VALUES (?, ?, ?, ?)')
        .bind(secret.hash, id, secret.start, at),
      this.#db.prepare('UPDATE api_keys SET version = version + 1, updated_at = ? WHERE id = ?').bind(at, id),
      this.#db.prepare(`${KEY_SELECT} WHERE k.id = ?`).bind(id),
      this.#audit(
        actor,
        'key.rotate',
        key.tenant,
        id,
        { start: secret.start, old_secrets_expire_at: graceUntil },
        at,
      ),
    ]);
    const row = changed?.results[0];
    return row === undefined ? undefined : keyOf(row);
  }

  async revokeKey(id: string, actor: Actor): Promise<ApiKey | undefined> {
    const at = this.#now();
    const key = await this.getKey(id);
    if (key === undefined) return undefined;
    const [, changed] = await this.#db.batch<Row>([
      this.#db
        .prepare(
          'UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?), version = version + 1, updated_at = ? WHERE id = ?',
        )
        .bind(at, at, id),
      this.#db.prepare(`${KEY_SELECT} WHERE k.id = ?`).bind(id),
      this.#audit(actor, 'key.revoke', key.tenant, id, {}, at),
    ]);
    const row = changed?.results[0];
    return row === undefined ? undefined : keyOf(row);
  }

  /** Newest first; `cursor` from the previous page. */
  async listAudit(
    options: { tenant?: string; cursor?: string; limit?: number } = {},
  ): Promise<Page<AuditEntry>> {
    const limit = pageLimit(options.limit);
    const before = options.cursor === undefined ? Number.MAX_SAFE_INTEGER : Number(options.cursor);
    if (!Number.isSafeInteger(before))
      throw new TypeError(`cursor must be an integer, got ${options.cursor}`);
    const stmt =
      options.tenant === undefined
        ? this.#db
            .prepare('SELECT * FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?')
            .bind(before, limit + 1)
        : this.#db
            .prepare('SELECT * FROM audit_log WHERE tenant_id = ? AND id < ? ORDER BY id DESC LIMIT ?')
            .bind(options.tenant, before, limit + 1);
    const { results } = await stmt.all<Row>();
    const items = results.slice(0, limit).map(auditOf);
    return { items, cursor: results.length > limit ? String(items.at(-1)?.id) : null };
  }
}
