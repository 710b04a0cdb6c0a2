/**
 * `npm run retrain -- --model spam [--root <registry root>] [--follow] [--s3] [--url <edge> --key <admin key>]`:
 * one run of the learning loop (training/src/loop/retrain.ts): export the reviewed labels, build a release with them,
 * gate it against the rollout's stable release, publish it to the registry and start its shadow rollout; later runs
 * (or `--follow`, which polls every `--every` seconds until the loop ends) move it to canary and promote it when the
 * traffic says so. State in `<root>/.retrain/<model>.json`: every stage is idempotent, a stopped run resumes.
 *
 * For a scheduled runner (e.g. a Kubernetes CronJob running this image every 15 minutes): the same command without
 * --follow; each run does what is due and exits. Exit code 0 while the loop progresses, ends promoted or has nothing
 * to do (stage `idle`: no labelled items, none new since the last cycle), 2 when the
 * gate refused the candidate or the guardrails rolled it back (the reason is printed). The last line is the state
 * as JSON.
 */
import { join, resolve } from 'node:path';
import { RELEASE_RECIPE } from '../training/src/config.ts';
import { retrainOnce } from '../training/src/loop/retrain.ts';
import { MODELS_ROOT } from '../training/src/release/registry.ts';
import { adminTarget, arg } from './admin-client.ts';
import { s3Target } from './publish.ts';

async function main(): Promise<void> {
  const model = arg('model') ?? 'spam';
  if (model !== RELEASE_RECIPE.name)
    throw new Error(`--model: only '${RELEASE_RECIPE.name}' has a training recipe`);
  const root = resolve(arg('root') ?? MODELS_ROOT);
  const every = Number(arg('every') ?? 15);
  const options = {
    model,
    recipe: RELEASE_RECIPE,
    root,
    extraRoots: [MODELS_ROOT],
    target: adminTarget(),
    ...(process.argv.includes('--s3') ? { store: await s3Target() } : {}),
    stateFile: join(root, '.retrain', `${model}.json`),
  };
  let state = await retrainOnce(options);
  while (process.argv.includes('--follow') && (state.stage === 'shadow' || state.stage === 'canary')) {
    await new Promise((r) => setTimeout(r, every * 1000));
    state = await retrainOnce(options);
  }
  if (state.stage === 'failed' || state.stage === 'rolled_back') {
    console.error(`retrain ${model}: ${state.stage}: ${state.reason}`);
    process.exitCode = 2;
  }
  console.log(JSON.stringify(state));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
});
