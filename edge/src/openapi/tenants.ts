/**
 * The tenants, keys and audit admin API (edge/src/tenants/routes.ts) and the usage report (edge/src/usage/routes.ts).
 * Request bodies and the usage query are the schemas the routes validate with (tenants/schemas.ts,
 * usage/schemas.ts); the answers are described field by field as tenantView, keyView and the handlers build them.
 * Every tenant-store failure (D1, KV) is 503 `unavailable`, never a 500.
 */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import {
  errorsOf,
  type HeaderSpec,
  jsonResponse,
  named,
  ndjsonMedia,
  needs,
  registerSchema,
  responseHeaders,
} from '../../../shared/openapi/spec.ts';
import { KEY_SCOPES, KeyCreate, KeyPatch, Rotate, TenantCreate, TenantPatch } from '../tenants/schemas.ts';
import { GROUPS } from '../usage/report.ts';
import { UsageQuery } from '../usage/schemas.ts';
import { adminErrorResponses } from './admin.ts';
import { LIMITED_HEADERS } from './common.ts';

const Time = z.iso.datetime().meta({ description: 'ISO 8601, UTC' });

const Quotas = named(
  z
    .object({
      items_per_day: z.number().int().positive().optional(),
      items_per_month: z.number().int().positive().optional(),
    })
    .meta({
      description: "The tenant's item quotas (classify and infer items); an absent field is no quota",
    }),
  'Quotas',
);

const Tenant = named(
  z.object({
    id: z.string().meta({ example: 'ten_0123456789abcdef' }),
    name: z.string(),
    tier: z.string().meta({ description: 'Rate-limit tier (RATE_LIMIT_TIERS)' }),
    models: z.array(z.string()).meta({ description: 'Models its keys may call; `["*"]`: all' }),
    regions: z.array(z.string()).meta({ description: 'Origin regions its data may go to; `["*"]`: any' }),
    quotas: Quotas,
    created_at: Time,
    updated_at: Time,
    disabled: z.boolean(),
    disabled_at: Time.nullable(),
  }),
  'Tenant',
);

const Scope = named(
  z.enum(KEY_SCOPES).meta({
    description:
      "`infer`: the model routes; `reviewer`: the review queue; `tenant_admin`: its own tenant's keys, audit and " +
      'usage; `admin`: everything',
  }),
  'Scope',
);

const ApiKey = named(
  z.object({
    id: z.string().meta({ example: 'key_0123456789abcdef' }),
    tenant: z.string(),
    name: z.string(),
    scopes: z.array(Scope),
    models: z
      .array(z.string())
      .nullable()
      .meta({ description: "The key's own allow-list, within its tenant's; null: the tenant's" }),
    start: z.string().meta({
      description: "The current secret's first characters (never enough to use it)",
      example: 'sk_live_4f9Q',
    }),
    created_at: Time,
    updated_at: Time,
    expires_at: Time.nullable(),
    disabled: z.boolean(),
    disabled_at: Time.nullable(),
    revoked: z.boolean(),
    revoked_at: Time.nullable(),
    last_used: Time.nullable()
      .optional()
      .meta({ description: 'Its last use (minute precision; null: none recorded). Only in GET answers' }),
  }),
  'ApiKey',
);

const CreatedKey = named(
  z.object({
    key: z
      .string()
      .regex(/^sk_(live|test|dev)_[0-9A-Za-z]{36}$/)
      .meta({ description: 'The secret: shown in this answer only, never again (store it now)' }),
    record: ApiKey,
  }),
  'CreatedKey',
);

const AuditEntry = named(
  z.object({
    id: z
      .number()
      .int()
      .meta({ description: 'Increasing; the next page of newer-first entries is below it' }),
    at: Time,
    actor: z.string().meta({ description: 'The key id that made the change' }),
    actor_tenant: z.string().nullable(),
    tenant_id: z.string().nullable().meta({ description: 'The tenant the change concerns' }),
    action: z
      .string()
      .meta({ description: 'tenant.create, tenant.update, key.create, key.update, key.rotate, key.revoke' }),
    target: z.string().meta({ description: 'The tenant or key id changed' }),
    detail: z
      .record(z.string(), z.unknown())
      .meta({ description: 'What changed (the fields sent; never a secret, only its `start`)' }),
    request_id: z.string().nullable(),
  }),
  'AuditEntry',
);

const Cursor = z
  .string()
  .nullable()
  .meta({ description: 'Pass as `cursor` for the next page; null on the last' });

const UsageRow = named(
  z
    .object({
      tenant: z.string().optional(),
      key: z.string().optional(),
      model: z.string().optional(),
      day: z.iso.date().optional(),
      hour: z
        .string()
        .regex(/^\d{2}$/)
        .optional()
        .meta({ description: 'UTC hour, `00` to `23`' }),
      requests: z.number().int().min(0),
      items: z.number().int().min(0),
      job_rows: z.number().int().min(0),
      served_by: z
        .record(z.string(), z.number().int().min(0))
        .meta({ description: 'Items per path: edge, origin, cache, edge-degraded (always present), ...' }),
      refused: z
        .record(z.string(), z.number().int().min(0))
        .meta({ description: 'Refused requests per error code' }),
      origin_compute_ms: z.number().min(0),
      edge_saved_ms: z.number().min(0).nullable().meta({
        description:
          "Items answered at the edge or from cache x the origin's mean compute per item; null without origin items",
      }),
      last_used: Time.nullable().optional().meta({ description: "The key's last use, when grouped by key" }),
    })
    .meta({ description: 'One group: only the group_by fields are present' }),
  'UsageRow',
);

const Usage = named(
  z.object({
    tenant: z.string().nullable().meta({ description: 'null: every tenant (admin keys only)' }),
    from: z.iso.date(),
    to: z.iso.date(),
    group_by: z.array(z.enum(GROUPS)),
    rows: z.array(UsageRow),
    origin_ms_per_item: z.number().min(0).nullable(),
    dropped: z
      .number()
      .min(0)
      .meta({ description: 'Items of usage batches that could not be written (in the range, any tenant)' }),
  }),
  'Usage',
);

const IdParam = z.string().meta({ description: 'The id' });
const Limit = z.int().min(1).max(1000).optional().meta({ description: 'Page size', default: 100 });
const PageCursor = z
  .string()
  .regex(/^[A-Za-z0-9_]{1,64}$/)
  .optional()
  .meta({ description: 'The `cursor` of the previous page' });
const TenantFilter = z
  .string()
  .optional()
  .meta({ description: "Only this tenant's (a tenant_admin: its own, the default; another is 403)" });

const JSON_BODY = 'JSON, at most MAX_BODY_BYTES (default 1 MiB).';

/** Errors of a route that reads a JSON body (requireJson, readJson, the zod schema). */
const JSON_BODY_ERRORS = errorsOf(
  'bad_request',
  'invalid_json',
  'invalid_input',
  'payload_too_large',
  'unsupported_media_type',
);

const ADMIN = 'Keys with the `admin` scope only (403 `forbidden` otherwise).';
const OWN =
  "Keys with `admin`, or with `tenant_admin` for its own tenant only (403 `forbidden` for another tenant's or " +
  'without either scope).';

export function registerTenantRoutes(registry: OpenAPIRegistry): void {
  registerSchema(registry, UsageRow);
  const ok = (description: string, schema: z.ZodType) => jsonResponse(description, schema, LIMITED_HEADERS);
  const errors = adminErrorResponses;
  const jsonBody = (schema: z.ZodType) => ({
    required: true,
    description: `${JSON_BODY} Unknown fields are 400.`,
    content: { 'application/json': { schema } },
  });

  named(TenantCreate, 'TenantCreate');
  named(TenantPatch, 'TenantPatch');
  named(KeyCreate, 'KeyCreate');
  named(KeyPatch, 'KeyPatch');
  named(Rotate, 'KeyRotate');

  // --- tenants ---
  registry.registerPath({
    method: 'post',
    path: '/v1/admin/tenants',
    tags: ['tenants'],
    summary: 'Create a tenant',
    description: `Models and regions default to \`["*"]\`, quotas to none; \`tier\` must be a configured rate tier. ${ADMIN}`,
    ...needs('admin'),
    request: { body: jsonBody(TenantCreate) },
    responses: {
      201: ok('The tenant', Tenant),
      ...errors(JSON_BODY_ERRORS, errorsOf('forbidden', 'unavailable')),
    },
  });

  registry.registerPath({
    method: 'get',
    path: '/v1/admin/tenants',
    tags: ['tenants'],
    summary: 'List tenants (by id, paged)',
    description: `An admin sees every tenant; a tenant_admin its own. ${OWN}`,
    ...needs('admin', 'tenant_admin'),
    request: { query: z.object({ cursor: PageCursor, limit: Limit }) },
    responses: {
      200: ok(
        'A page of tenants',
        named(z.object({ tenants: z.array(Tenant), cursor: Cursor }), 'TenantPage'),
      ),
      ...errors(errorsOf('forbidden', 'invalid_input', 'unavailable')),
    },
  });

  registry.registerPath({
    method: 'get',
    path: '/v1/admin/tenants/{id}',
    tags: ['tenants'],
    summary: 'A tenant',
    description: `404 for an unknown id (checked before the scope). ${OWN}`,
    ...needs('admin', 'tenant_admin'),
    request: { params: z.object({ id: IdParam }) },
    responses: {
      200: ok('The tenant', Tenant),
      ...errors(errorsOf('forbidden', 'not_found', 'unavailable')),
    },
  });

  registry.registerPath({
    method: 'patch',
    path: '/v1/admin/tenants/{id}',
    tags: ['tenants'],
    summary: 'Change a tenant (disable, re-tier, models, regions, quotas)',
    description:
      'Only the fields sent change; `disabled: true` refuses every key of the tenant (401 `key_disabled`) within ' +
      `about a second everywhere. ${ADMIN}`,
    ...needs('admin'),
    request: { params: z.object({ id: IdParam }), body: jsonBody(TenantPatch) },
    responses: {
      200: ok('The tenant as changed', Tenant),
      ...errors(JSON_BODY_ERRORS, errorsOf('forbidden', 'not_found', 'unavailable')),
    },
  });

  // --- keys ---
  registry.registerPath({
    method: 'post',
    path: '/v1/admin/keys',
    tags: ['tenants'],
    summary: 'Create an API key (its secret is shown once)',
    description:
      "The key's models must be within its tenant's (400); `expires_at` must be in the future. Only an admin may " +
      `grant the \`admin\` scope (403). 404 for an unknown tenant. ${OWN}`,
    ...needs('admin', 'tenant_admin'),
    request: { body: jsonBody(KeyCreate) },
    responses: {
      201: ok('The key: its secret (this once) and its record', CreatedKey),
      ...errors(JSON_BODY_ERRORS, errorsOf('forbidden', 'not_found', 'unavailable')),
    },
  });

  registry.registerPath({
    method: 'get',
    path: '/v1/admin/keys',
    tags: ['tenants'],
    summary: 'List API keys (by id, paged), with their last use',
    description: `An admin sees every key, or one tenant's with \`tenant\`; a tenant_admin its own tenant's. ${OWN}`,
    ...needs('admin', 'tenant_admin'),
    request: { query: z.object({ tenant: TenantFilter, cursor: PageCursor, limit: Limit }) },
    responses: {
      200: ok('A page of keys', named(z.object({ keys: z.array(ApiKey), cursor: Cursor }), 'ApiKeyPage')),
      ...errors(errorsOf('forbidden', 'invalid_input', 'unavailable')),
    },
  });

  registry.registerPath({
    method: 'get',
    path: '/v1/admin/keys/{id}',
    tags: ['tenants'],
    summary: 'An API key, with its last use',
    description: `404 for an unknown id (checked before the scope). ${OWN}`,
    ...needs('admin', 'tenant_admin'),
    request: { params: z.object({ id: IdParam }) },
    responses: {
      200: ok('The key (never its secret)', ApiKey),
      ...errors(errorsOf('forbidden', 'not_found', 'unavailable')),
    },
  });

  registry.registerPath({
    method: 'patch',
    path: '/v1/admin/keys/{id}',
    tags: ['tenants'],
    summary: 'Change an API key (name, scopes, models, expiry, disable)',
    description:
      'Only the fields sent change; the change reaches every PoP within about a second. Models must stay within ' +
      `the tenant's (400); only an admin may grant \`admin\` (403). ${OWN}`,
    ...needs('admin', 'tenant_admin'),
    request: { params: z.object({ id: IdParam }), body: jsonBody(KeyPatch) },
    responses: {
      200: ok('The key as changed', ApiKey),
      ...errors(JSON_BODY_ERRORS, errorsOf('forbidden', 'not_found', 'unavailable')),
    },
  });

  registry.registerPath({
    method: 'post',
    path: '/v1/admin/keys/{id}/rotate',
    tags: ['tenants'],
    summary: 'Rotate an API key: a new secret (shown once); the old ones end after a grace period',
    description:
      'Every older secret stops working `grace_seconds` from now at the latest (default 0: at once, as after a ' +
      `leak). A revoked or expired key cannot be rotated (409). ${OWN}`,
    ...needs('admin', 'tenant_admin'),
    request: {
      params: z.object({ id: IdParam }),
      body: {
        required: false,
        description: `Optional: an empty body is \`{}\` (any Content-Type); anything sent must be ${JSON_BODY}`,
        content: { 'application/json': { schema: Rotate } },
      },
    },
    responses: {
      200: ok('The new secret (this once) and the record', CreatedKey),
      ...errors(JSON_BODY_ERRORS, errorsOf('forbidden', 'not_found', 'conflict', 'unavailable')),
    },
  });

  registry.registerPath({
    method: 'post',
    path: '/v1/admin/keys/{id}/revoke',
    tags: ['tenants'],
    summary: 'Revoke an API key (for good; idempotent)',
    description:
      'Every secret of the key is refused (401 `key_revoked`) within about a second everywhere. No body (a POST ' +
      `body over MAX_BODY_BYTES is 413 when a rate limit applies). ${OWN}`,
    ...needs('admin', 'tenant_admin'),
    request: { params: z.object({ id: IdParam }) },
    responses: {
      200: ok('The revoked key', named(z.object({ record: ApiKey }), 'RevokedKey')),
      ...errors(errorsOf('forbidden', 'not_found', 'payload_too_large', 'unavailable')),
    },
  });

  registry.registerPath({
    method: 'get',
    path: '/v1/admin/audit',
    tags: ['tenants'],
    summary: 'The audit log of tenant and key changes (newest first, paged)',
    description: `An admin sees every entry, or one tenant's with \`tenant\`; a tenant_admin its own tenant's. ${OWN}`,
    ...needs('admin', 'tenant_admin'),
    request: {
      query: z.object({
        tenant: TenantFilter,
        cursor: z
          .string()
          .regex(/^[0-9]{1,16}$/)
          .optional()
          .meta({ description: 'The `cursor` of the previous page' }),
        limit: Limit,
      }),
    },
    responses: {
      200: ok(
        'A page of entries',
        named(z.object({ entries: z.array(AuditEntry), cursor: Cursor }), 'AuditPage'),
      ),
      ...errors(errorsOf('forbidden', 'invalid_input', 'unavailable')),
    },
  });

  // --- usage ---
  const usageHeaders: Record<string, HeaderSpec> = {
    ...LIMITED_HEADERS,
    'content-disposition': {
      description: 'CSV only: `attachment; filename="usage-{tenant|all}-{from}-{to}.csv"`',
      schema: { type: 'string' },
    },
  };
  // The validating schema, with each parameter described.
  const q = UsageQuery.shape;
  const usageQuery = UsageQuery.extend({
    from: q.from.meta({ description: 'First UTC day (YYYY-MM-DD); default 6 days before `to`' }),
    to: q.to.meta({ description: 'Last UTC day, included; default today' }),
    group_by: q.group_by.meta({
      description: `Comma-separated, distinct: ${GROUPS.join(', ')} (rows grouped in that order); default \`day\``,
      example: 'key,day',
    }),
    tenant: q.tenant.meta({
      description: "The tenant; default: a tenant_admin's own, or every tenant for an admin",
    }),
    format: q.format.meta({ description: 'json (default), csv or ndjson' }),
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/usage',
    tags: ['usage'],
    summary: "A tenant's metered usage, grouped",
    description:
      'Metered usage over whole UTC days (`to` included; default the last 7 days; at most 93), grouped as asked ' +
      '(default `day`): requests, items, job rows, items per path, refusals per code, origin compute and what ' +
      'the edge saved. Keys with `tenant_admin` see their own tenant (another `tenant` is 403); keys with `admin` ' +
      'any tenant (404 for an unknown one), or every tenant with usage when `tenant` is left out; any other key ' +
      'is 403. Unknown query parameters are 400. 503 `unavailable` without the shared store (Upstash) or when it ' +
      'fails.',
    ...needs('admin', 'tenant_admin'),
    request: { query: usageQuery },
    responses: {
      200: {
        description:
          'The report: JSON (default), CSV (`format=csv`: a header line, then one line per row, CRLF) or NDJSON ' +
          '(`format=ndjson`: one UsageRow per line)',
        headers: responseHeaders(usageHeaders),
        content: {
          'application/json': { schema: Usage },
          'text/csv': { schema: { type: 'string' } },
          'application/x-ndjson': ndjsonMedia('UsageRow', 'NDJSON: one UsageRow per line'),
        },
      },
      ...errors(errorsOf('forbidden', 'invalid_input', 'not_found', 'unavailable')),
    },
  });
}
