/**
 * `npm run train`: builds the release described by training/src/config.ts into models/<name>/<version>/ and
 * prints one line per epoch, then a JSON summary line last.
 */
import { buildRelease } from './build.ts';
import { RELEASE_RECIPE } from './config.ts';
import { summaryLine } from './eval/report.ts';

const started = performance.now();
try {
  const { dir, manifest, evaluation, seconds } = await buildRelease(RELEASE_RECIPE);
  console.log(`release written: ${dir}`);
  console.log(
    summaryLine(manifest, evaluation, {
      seconds: { ...seconds, total: Number(((performance.now() - started) / 1000).toFixed(1)) },
    }),
  );
} catch (err) {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
}
