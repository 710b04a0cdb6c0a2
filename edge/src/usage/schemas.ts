/**
 * The query of `GET /v1/usage` (routes.ts): plain zod, so the OpenAPI document (edge/src/openapi/tenants.ts,
 * generated in Node) describes exactly what the route validates. No Workers types here.
 */
import { z } from 'zod';
import { GROUPS, type Group } from './report.ts';

const DATE = z.iso.date();
export const UsageQuery = z.strictObject({
  from: DATE.optional(),
  to: DATE.optional(),
  group_by: z
    .string()
    .max(64)
    .optional()
    .transform((v, ctx) => {
      const groups = (v ?? 'day').split(',').map((g) => g.trim());
      const bad = groups.filter((g) => !(GROUPS as readonly string[]).includes(g));
      if (bad.length > 0 || new Set(groups).size !== groups.length) {
        ctx.addIssue({
          code: 'custom',
          message: `a comma-separated list of distinct ${GROUPS.join(', ')}`,
        });
        return z.NEVER;
      }
      return groups as Group[];
    }),
  tenant: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'a tenant id')
    .optional(),
  format: z.enum(['json', 'csv', 'ndjson']).optional(),
});
