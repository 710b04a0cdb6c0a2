import { defineConfig } from 'vitest/config';

// One vitest run, several projects:
//  - node:    unit tests next to their code (shared/, origin/, training/, infra/) and cross-tier tests in test/
//  - workerd: the edge Worker inside workerd (edge/vitest.config.ts, Cloudflare vitest plugin)
//  - faults:  heavier fault and soak runs (npm run test:faults), kept out of `npm test`
export default defineConfig({
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'node',
          environment: 'node',
          include: ['{shared,origin,training,infra,scripts,test,bench,client}/**/*.test.ts'],
          exclude: ['test/faults/**', 'node_modules/**'],
          testTimeout: 60_000,
          // A stack's start (wrangler dev + origins + Redis) waits up to 180 s for the edge itself (scripts/stack.ts):
          // the hook outlives it so a slow start on a busy machine fails with the stack's own message, if at all.
          hookTimeout: 240_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'faults',
          environment: 'node',
          include: ['test/faults/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 180_000,
        },
      },
      'edge/vitest.config.ts',
    ],
  },
});
