// Runs in workerd before each test file: the tenant store's migrations (edge/migrations) on the local D1, the way
// `wrangler d1 migrations apply` does it (recorded in d1_migrations, so applying again is a no-op).
import { applyD1Migrations, type D1Migration } from 'cloudflare:test';
import { env } from 'cloudflare:workers';

await applyD1Migrations(
  (env as unknown as { DB: D1Database }).DB,
  (env as unknown as { TEST_MIGRATIONS: D1Migration[] }).TEST_MIGRATIONS,
);
