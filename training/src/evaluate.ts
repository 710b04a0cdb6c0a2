/**
 * `npm run eval [-- <release dir | version>]`: evaluates a release (default: the newest of models/spam/) on the
 * corpus's validation and test splits with its own featurizer and ONNX files, re-chooses the threshold on
 * validation, rewrites eval.json, cascade.svg and the manifest's threshold, checks the release's hashes, measures
 * the featurizer's per-message cost, and prints a JSON line last.
 */
import { join } from 'node:path';
import { featurizerFromManifest } from '../../shared/featurizer/index.ts';
import { RELEASE_RECIPE } from './config.ts';
import { loadCorpus } from './data/corpus.ts';
import { splitStratified } from './data/split.ts';
import { featurizerCost } from './eval/cost.ts';
import { evaluateRelease } from './eval/evaluate-release.ts';
import { readPipelineSections, summaryLine, writeEvaluation } from './eval/report.ts';
import { checkRelease, listReleases, MODELS_ROOT, readManifest } from './release/registry.ts';

async function main(): Promise<void> {
  const arg = process.argv[2];
  const name = RELEASE_RECIPE.name;
  let dir: string;
  if (arg !== undefined) {
    dir = arg.includes('/') ? arg : join(MODELS_ROOT, name, arg);
  } else {
    const releases = await listReleases(name);
    const latest = releases.at(-1);
    if (latest === undefined)
      throw new Error(`no release under ${join(MODELS_ROOT, name)}: run npm run train first`);
    dir = latest.dir;
  }
  const before = await checkRelease(dir);
  if (before.length > 0) throw new Error(`release ${dir} does not match its manifest: ${before.join('; ')}`);
  const manifest = await readManifest(dir);
  console.log(`evaluating ${manifest.name}/${manifest.version} (${dir})`);
  const splits = splitStratified(loadCorpus(), RELEASE_RECIPE.split);
  const evaluation = await evaluateRelease(dir, manifest, splits, RELEASE_RECIPE.thresholdTolerance);
  const written = await writeEvaluation(dir, manifest, evaluation, await readPipelineSections(dir));
  const after = await checkRelease(dir);
  if (after.length > 0) throw new Error(`release check failed after writing: ${after.join('; ')}`);
  const fmt = (m: typeof evaluation.test.teacher) =>
    `acc ${(100 * m.accuracy).toFixed(2)}% P ${m.precision.toFixed(4)} R ${m.recall.toFixed(4)} F1 ${m.f1.toFixed(4)} AUC ${m.roc_auc.toFixed(5)} ECE ${m.ece.toFixed(4)}`;
  console.log(`test (n=${evaluation.test.n}) teacher: ${fmt(evaluation.test.teacher)}`);
  console.log(`test (n=${evaluation.test.n}) student: ${fmt(evaluation.test.student)}`);
  console.log(
    `threshold ${evaluation.threshold} (validation: edge ${(100 * evaluation.validation.cascade.edge_share).toFixed(1)}%, ` +
      `cascade ${(100 * evaluation.validation.cascade.cascade_acc).toFixed(2)}%); test: edge ${(100 * evaluation.test.cascade.edge_share).toFixed(1)}%, ` +
      `cascade ${(100 * evaluation.test.cascade.cascade_acc).toFixed(2)}%`,
  );
  const cost = featurizerCost(
    featurizerFromManifest(written.featurizer),
    splits.test.map((m) => m.text),
  );
  console.log(summaryLine(written, evaluation, { featurizer_us_per_msg: cost }));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
});
