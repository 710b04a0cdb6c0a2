/** Test-only secrets shared by the Node side (fake origins) and the workerd bindings (vitest.config.ts). */
export const TEST_SIGNING_SECRET = 'edge-test-signing-secret-0123456789';
export const TEST_WEBHOOK_SECRET = 'edge-test-webhook-secret-0123456789';
export const TEST_CONSOLE_SECRET = 'edge-test-console-secret-0123456789';
