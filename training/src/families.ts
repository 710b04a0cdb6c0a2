/**
 * `npm run eval:families`: the MLP teacher, the naive-Bayes family, their ensemble and bogofilter on the test split,
 * in 5-fold cross-validation over train + validation (paired McNemar tests message by message) and along a learning
 * curve (eval/families.ts). Progress lines, then one JSON object as the last line. Takes a few minutes.
 */
import { RELEASE_RECIPE } from './config.ts';
import { loadCorpus } from './data/corpus.ts';
import { splitStratified } from './data/split.ts';
import { evaluateFamilies } from './eval/families.ts';

if (import.meta.main) {
  try {
    const splits = splitStratified(loadCorpus(), RELEASE_RECIPE.split);
    const result = await evaluateFamilies(RELEASE_RECIPE, splits);
    console.log(JSON.stringify(result));
  } catch (err) {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exitCode = 1;
  }
}
