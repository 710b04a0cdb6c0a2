/**
 * The request bodies of the tenants and keys admin API (routes.ts), and the scopes a key may carry: plain zod, so
 * the OpenAPI document (edge/src/openapi/tenants.ts, generated in Node) describes exactly what the routes validate.
 * No Workers types here.
 */
import { z } from 'zod';

/**
 * What a key may do: `infer` (the model routes), `reviewer` (the review queue), `tenant_admin` (its own tenant's
 * keys, audit and usage), `admin` (everything: tenants, keys, rollout, stats).
 */
export const KEY_SCOPES = ['infer', 'admin', 'reviewer', 'tenant_admin'] as const;
export type KeyScope = (typeof KEY_SCOPES)[number];

const MODEL = z.string().regex(/^(\*|[A-Za-z0-9][A-Za-z0-9._-]{0,63})$/, 'a model name or "*"');
const REGION = z.string().regex(/^(\*|[a-z][a-z0-9-]{0,31})$/, 'a region id (e.g. eu, us-east) or "*"');
const NAME = z.string().trim().min(1).max(128);
const COUNT = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const QUOTAS = z.strictObject({ items_per_day: COUNT.optional(), items_per_month: COUNT.optional() });
const TIME = z.iso.datetime({ offset: true });
const GRACE_MAX_S = 30 * 24 * 3600;

export const TenantCreate = z.strictObject({
  name: NAME,
  tier: z.string().min(1).max(64),
  models: z.array(MODEL).min(1).max(256).optional(),
  regions: z.array(REGION).min(1).max(32).optional(),
  quotas: QUOTAS.optional(),
});
export const TenantPatch = TenantCreate.partial().extend({ disabled: z.boolean().optional() }).strict();
export const KeyCreate = z.strictObject({
  tenant: z.string().min(1).max(64),
  name: NAME,
  scopes: z.array(z.enum(KEY_SCOPES)).min(1).max(KEY_SCOPES.length),
  models: z.array(MODEL).min(1).max(256).nullable().optional(),
  expires_at: TIME.nullable().optional(),
});
export const KeyPatch = z.strictObject({
  name: NAME.optional(),
  scopes: z.array(z.enum(KEY_SCOPES)).min(1).max(KEY_SCOPES.length).optional(),
  models: z.array(MODEL).min(1).max(256).nullable().optional(),
  expires_at: TIME.nullable().optional(),
  disabled: z.boolean().optional(),
});
export const Rotate = z.strictObject({ grace_seconds: z.number().int().min(0).max(GRACE_MAX_S).optional() });
