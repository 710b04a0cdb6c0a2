/** Test-only secrets shared by the Node side (fake origins) and the workerd bindings (vitest.config.ts). */
export const TEST_SIGNING_SECRET = 'edge-test-signing-secret-0123456789';
