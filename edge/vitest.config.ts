import { fileURLToPath } from 'node:url';
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { defineProject } from 'vitest/config';
import { TEST_CONSOLE_SECRET, TEST_SIGNING_SECRET, TEST_WEBHOOK_SECRET } from './test/node/secrets.ts';

// The edge Worker's tests, inside workerd (Cloudflare vitest plugin + Miniflare), configured from the repo's
// wrangler.toml. globalSetup (Node) starts the loopback fake origins and the Upstash bridge over a real Redis
// and provides their URLs; the bindings below hand them to the Worker. Part of the root `npm test`.
const wranglerConfig = fileURLToPath(new URL('../wrangler.toml', import.meta.url));
// The tenant store's D1 migrations (edge/migrations), applied to the local D1 by test/apply-migrations.ts.
const migrations = await readD1Migrations(fileURLToPath(new URL('./migrations', import.meta.url)));

export default defineProject({
  plugins: [
    cloudflareTest(({ inject }) => ({
      wrangler: { configPath: wranglerConfig },
      miniflare: {
        bindings: {
          ORIGIN_URLS: '',
          API_KEYS: '{}',
          ORIGIN_SIGNING_SECRET: TEST_SIGNING_SECRET,
          WEBHOOK_SIGNING_SECRET: TEST_WEBHOOK_SECRET,
          CONSOLE_SESSION_SECRET: TEST_CONSOLE_SECRET,
          UPSTASH_REDIS_REST_URL: inject('upstashUrl'),
          UPSTASH_REDIS_REST_TOKEN: inject('upstashToken'),
          KEY_ENV: 'test',
          TEST_MIGRATIONS: migrations,
        },
      },
    })),
  ],
  test: {
    name: 'workerd',
    // shared/ runs in both runtimes, so its tests run here too (all but the one that reads fixtures from disk).
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', '../shared/**/*.test.ts'],
    exclude: ['**/node_modules/**', '../shared/featurizer/expected-ids.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/apply-migrations.ts', 'test/contract-report.ts'],
    // One workerd isolate for all files: importing ORT-web (14 MB wasm) per file made the run ~6x slower. The
    // tests own their state (per-test origins, keys, texts), so sharing module-level pools and caches is safe.
    isolate: false,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
