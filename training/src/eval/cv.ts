/**
 * k-fold cross-validated accuracy of the release recipe's teacher over labelled messages (train + validation): each
 * fold is trained as `npm run train` trains (views, evidence smoothing, same hyper-parameters) on the other folds
 * and scored on its own. Folds are assigned by the same stable hash of message keys as the bogofilter peer's, so
 * the two are compared on the same folds.
 */
import { createFeaturizer } from '../../../shared/featurizer/index.ts';
import { withEvidence, withViews } from '../build.ts';
import type { ReleaseRecipe } from '../config.ts';
import { LABELS, type Message } from '../data/corpus.ts';
import { initBagMlp } from '../model/bag-mlp.ts';
import { predictProbs, trainBagMlp } from '../model/train.ts';

export async function teacherCrossValidation(
  recipe: ReleaseRecipe,
  messages: readonly Message[],
  foldOf: (key: string, folds: number) => number,
  folds = 5,
): Promise<{ accuracy: number; per_fold: number[]; errors: number; n: number }> {
  const featurizer = createFeaturizer(recipe.featurizer);
  const L = featurizer.config.maxLength;
  const fold = messages.map((m) => foldOf(m.key, folds));
  const per_fold: number[] = [];
  let errors = 0;
  for (let k = 0; k < folds; k++) {
    const train = messages.filter((_, i) => fold[i] !== k);
    const held = messages.filter((_, i) => fold[i] === k);
    const augmented = withViews(train, recipe.views);
    const data = withEvidence(
      {
        ids: featurizer.featurizeBatch(augmented.map((m) => m.text)),
        labels: Uint8Array.from(augmented.map((m) => m.label)),
        n: augmented.length,
      },
      L,
      recipe.evidence,
    );
    const spec = recipe.teacher;
    const model = initBagMlp(
      { ...spec.shape, classes: LABELS.length, maxLength: L },
      spec.initSeed,
      Float32Array,
      spec.embScale,
    );
    trainBagMlp(model, data, { ...spec.train, name: `teacher fold ${k + 1}/${folds}`, log: () => {} });
    const p = predictProbs(model, featurizer.featurizeBatch(held.map((m) => m.text)), held.length);
    let wrong = 0;
    held.forEach((m, i) => {
      if (((p[2 * i + 1] as number) >= 0.5 ? 1 : 0) !== m.label) wrong++;
    });
    per_fold.push((held.length - wrong) / held.length);
    errors += wrong;
  }
  return { accuracy: (messages.length - errors) / messages.length, per_fold, errors, n: messages.length };
}
