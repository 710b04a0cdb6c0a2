/**
 * vitest globalSetup for the workerd project (runs in Node, before the pool starts workerd):
 * - builds the tiny test students (text and tensor) and hands them over through `provide` (base64 + sha256);
 * - runs the bring-your-own import (training/src/import) on small generated models into a temp models folder and
 *   checks it as `npm run edge:release` does, handing the release over (manifest + student) as the bundle would;
 * - starts the loopback fake-origin factory (test/node/fake-origins.ts);
 * - starts a real Redis (the shared 127.0.0.1:6379 when reachable, else a spawned redis-server) behind the
 *   Upstash REST bridge (infra/upstash-bridge), for @upstash/ratelimit and @upstash/redis inside workerd.
 * Everything it starts is stopped in the teardown it returns.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startRedisForTests, startUpstashBridge } from '../../infra/upstash-bridge/index.ts';
import { chooseReleases } from '../../scripts/edge-release.ts';
import { testMessages } from '../../test/helpers.ts';
import { LABELS } from '../../training/src/data/corpus.ts';
import { assembleRelease } from '../../training/src/import/assemble.ts';
import {
  LINEAR_LABELS,
  linearModel,
  linearRows,
  STUDENT_W,
  TEACHER_W,
} from '../../training/src/import/fixtures.ts';
import { FIXTURE_MODELS_ROOT } from '../../training/src/shuffled.ts';
import {
  makeTinyMixedStudent,
  makeTinyStudent,
  makeTinyTensorStudent,
  sha256Hex,
} from './fixtures/tiny-student.ts';
import { startFakeOrigins } from './node/fake-origins.ts';
import { TEST_SIGNING_SECRET } from './node/secrets.ts';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const student = makeTinyStudent();
  project.provide('tinyStudentB64', Buffer.from(student).toString('base64'));
  // CONTRACT_REPORT=1: each test file prints how many answers so far were held to the OpenAPI document.
  project.provide('contractReport', process.env.CONTRACT_REPORT === '1');
  project.provide('tinyStudentSha256', sha256Hex(student));
  project.provide('tinyTensorStudentB64', Buffer.from(makeTinyTensorStudent()).toString('base64'));
  project.provide('tinyMixedStudentB64', Buffer.from(makeTinyMixedStudent()).toString('base64'));

  const imported = await mkdtemp(join(tmpdir(), 'edge-test-import-'));
  await assembleRelease({
    name: 'linear',
    labels: LINEAR_LABELS,
    teacher: linearModel(TEACHER_W),
    student: linearModel(STUDENT_W),
    validation: linearRows(400, 1),
    date: '2026-12-02',
    source: 'generated in edge/test/global-setup.ts',
    root: imported,
    log: () => {},
  });
  const [chosen] = await chooseReleases('linear', undefined, imported);
  if (chosen === undefined) throw new Error('the imported release was not chosen');
  project.provide(
    'importedRelease',
    JSON.stringify({
      manifest: chosen.manifest,
      student: (await readFile(join(chosen.dir, chosen.studentFile))).toString('base64'),
    }),
  );

  // The real spam release the bundle serves (stable) and the shuffled-labels fixture (a bad candidate), with 40
  // test-split messages (20 spam, 20 ham), for the rollout test that embeds both.
  const embed = async (root?: string) => {
    const [r] = await chooseReleases('spam', undefined, root);
    if (r === undefined) throw new Error(`no spam release under ${root ?? 'models/'}`);
    const file = (name: string | undefined) =>
      name === undefined ? undefined : readFile(join(r.dir, name)).then((b) => b.toString('base64'));
    return { manifest: r.manifest, student: await file(r.studentFile), seenIds: await file(r.seenIdsFile) };
  };
  const pick = (label: number) =>
    testMessages()
      .filter((m) => m.label === label)
      .slice(0, 20)
      .map((m) => ({ text: m.text, label: LABELS[m.label] }));
  project.provide(
    'spamRollout',
    JSON.stringify({
      stable: await embed(),
      shuffled: await embed(FIXTURE_MODELS_ROOT),
      texts: [...pick(1), ...pick(0)],
    }),
  );

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
    await rm(imported, { recursive: true, force: true });
  };
}
