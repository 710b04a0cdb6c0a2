/**
 * vitest globalSetup for the workerd project (runs in Node, before the pool starts workerd):
 * - builds the tiny test students (text and tensor) and hands them over through `provide` (base64 + sha256);
 * - starts the loopback fake-origin factory (test/node/fake-origins.ts);
 * - starts a real Redis (the shared 127.0.0.1:6379 when reachable, else a spawned redis-server) behind the
 *   Upstash REST bridge (infra/upstash-bridge), for @upstash/ratelimit and @upstash/redis inside workerd.
 * Everything it starts is stopped in the teardown it returns.
 */
import type { TestProject } from 'vitest/node';
import { startRedisForTests, startUpstashBridge } from '../../infra/upstash-bridge/index.ts';
import { makeTinyStudent, makeTinyTensorStudent, sha256Hex } from './fixtures/tiny-student.ts';
import { startFakeOrigins } from './node/fake-origins.ts';
import { TEST_SIGNING_SECRET } from './node/secrets.ts';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const student = makeTinyStudent();
  project.provide('tinyStudentB64', Buffer.from(student).toString('base64'));
  project.provide('tinyStudentSha256', sha256Hex(student));
  project.provide('tinyTensorStudentB64', Buffer.from(makeTinyTensorStudent()).toString('base64'));

  const origins = await startFakeOrigins(TEST_SIGNING_SECRET);
  project.provide('fakeOriginControl', origins.controlUrl);

  const redis = await startRedisForTests();
  const bridge = await startUpstashBridge({ redisUrl: redis.url, token: `edge-test-${process.pid}` });
  project.provide('upstashUrl', bridge.url);
  project.provide('upstashToken', bridge.token);

  return async () => {
    await bridge.close();
    await redis.stop();
    await origins.close();
  };
}
