/**
 * The learning loop on real parts (npm run retrain's stages, training/src/loop/retrain.ts): a stack whose origin
 * polls a local S3 stand-in for the R2 registry, the edge's review queue and registry (Miniflare's local R2),
 * releases built into a temporary registry root. Reviewed drill texts -> a release built with them -> the gate:
 * a small recipe is refused (worse on the corpus; nothing published), the release recipe passes and is published
 * to both tiers and put in shadow (bench:loop takes it on to canary and promote under traffic).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unwrap } from '../../client/src/index.ts';
import { createS3Client } from '../../origin/src/registry-s3/client.ts';
import { type AdminTarget, adminClient } from '../../scripts/admin-client.ts';
import { type Stack, startStack } from '../../scripts/stack.ts';
import { RELEASE_RECIPE, type ReleaseRecipe } from '../../training/src/config.ts';
import { LABELS } from '../../training/src/data/corpus.ts';
import { drillSplit } from '../../training/src/data/drill.ts';
import { retrainOnce } from '../../training/src/loop/retrain.ts';
import { MODELS_ROOT, readManifest } from '../../training/src/release/registry.ts';
import { SHUFFLED_RECIPE } from '../../training/src/shuffled.ts';
import { holdStackToContract } from '../contract.ts';
import { classify, labelReviewQueue } from '../helpers.ts';

let stack: Stack;
let work: string;
let target: AdminTarget;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'loop-test-'));
  stack = await startStack({
    sharedState: 'test',
    registry: { pollSeconds: 1 },
    originEnv: { MODEL_VERSION_POLICY: 'all' },
    keys: [{ name: 'loop-admin', tier: 'pro', scopes: ['admin', 'infer'] }],
  });
  holdStackToContract(stack);
  target = { url: stack.edgeUrl, key: stack.apiKeys[0]?.key as string };
  // Reviewed items: the drill's labelled part through the stack, then the queued ones labelled.
  const { labelled } = drillSplit();
  for (let i = 0; i < labelled.length; i += 16) {
    const r = await classify(
      stack.edgeUrl,
      target.key,
      labelled.slice(i, i + 16).map((t) => t.text),
      {
        'cache-control': 'no-cache, no-store',
      },
    );
    expect(r.status).toBe(200);
  }
  await new Promise((r) => setTimeout(r, 1500));
  const truth = new Map(labelled.map((t) => [t.text, LABELS[t.label] as string]));
  const { labelled: n } = await labelReviewQueue(target, truth);
  expect(n).toBeGreaterThan(20);
}, 300_000);

afterAll(async () => {
  await stack?.stop();
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

const options = (recipe: ReleaseRecipe, name: string) => ({
  model: 'spam',
  recipe,
  root: join(work, name),
  extraRoots: [MODELS_ROOT],
  target,
  store: createS3Client({ ...(stack.s3 as NonNullable<Stack['s3']>), region: 'auto' }),
  stateFile: join(work, name, '.retrain', 'spam.json'),
  log: () => {},
});

describe('npm run retrain: reviewed labels -> gate -> registry -> shadow (real stack, local S3 stand-in for R2)', () => {
  it('refuses a candidate from a small recipe at the gate (worse on the corpus): nothing is published', async () => {
    const { shuffleLabels: _s, ...tiny } = SHUFFLED_RECIPE;
    const state = await retrainOnce(options({ ...tiny, releaseDate: RELEASE_RECIPE.releaseDate }, 'small'));
    expect(state.stage).toBe('failed');
    expect(state.reviewed).toBeGreaterThan(20);
    expect(state.reason).toMatch(/worse on the corpus test split beyond noise/);
    expect(state.gate?.pass).toBe(false);
    // The verdict is in the candidate's eval.json, and the registry does not list it.
    const evalDoc = await import('node:fs').then((fs) =>
      JSON.parse(fs.readFileSync(join(state.candidate_dir as string, 'eval.json'), 'utf8')),
    );
    expect(evalDoc.gate.pass).toBe(false);
    const listed = unwrap(
      await adminClient(target).GET('/v1/admin/registry/{model}', { params: { path: { model: 'spam' } } }),
    );
    expect(listed.published.map((v) => v.version)).not.toContain(state.candidate);
    // A second run with the same labels builds nothing.
    const again = await retrainOnce(options({ ...tiny, releaseDate: RELEASE_RECIPE.releaseDate }, 'small'));
    expect(again.stage).toBe('idle');
    expect(again.reason).toMatch(/no new labels since the last cycle/);
  }, 300_000);

  it('passes the release recipe with the reviewed labels, publishes it to both tiers and starts its shadow', async () => {
    const state = await retrainOnce(options(RELEASE_RECIPE, 'full'));
    expect(state.stage).toBe('shadow');
    expect(state.gate?.pass).toBe(true);
    expect(state.gate?.domain.candidate_acc).toBeGreaterThan(state.gate?.domain.stable_acc as number);
    const manifest = await readManifest(state.candidate_dir as string);
    expect(manifest.version).toBe(state.candidate);
    // Published at the edge (its R2) and served by the origin (pulled from the S3 stand-in).
    const listed = unwrap(
      await adminClient(target).GET('/v1/admin/registry/{model}', { params: { path: { model: 'spam' } } }),
    );
    expect(listed.published.map((v) => v.version)).toContain(state.candidate);
    const edge = adminClient(target, { retry: false });
    const ready = await edge.GET('/v2/models/{model}/versions/{version}/ready', {
      params: { path: { model: 'spam', version: state.candidate as string } },
    });
    expect(ready.response.status).toBe(200);
    const { policy } = unwrap(
      await edge.GET('/v1/admin/models/{model}/rollout', { params: { path: { model: 'spam' } } }),
    );
    expect(policy).toMatchObject({ mode: 'shadow', candidate: state.candidate });
  }, 300_000);
});
