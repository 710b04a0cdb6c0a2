/** The Upstash REST bridge: import from here (a stable entry point for the edge's and the e2e tests). */
export { type StartRedisForTestsOptions, startRedisForTests, type TestRedis } from './redis-server.ts';
export { startUpstashBridge, type UpstashBridge, type UpstashBridgeOptions } from './server.ts';
