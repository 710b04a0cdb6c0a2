/**
 * `npm run train [-- --extra reviewed.ndjson]`: builds the release described by training/src/config.ts into
 * models/<name>/<version>/ and prints one line per epoch, then a JSON summary line last. `--extra` adds labelled
 * lines (the review queue's export, data/extra.ts) to the data, split by their own keys.
 */
import { readFileSync } from 'node:fs';
import { buildRelease } from './build.ts';
import { RELEASE_RECIPE } from './config.ts';
import { parseExtra } from './data/extra.ts';
import { summaryLine } from './eval/report.ts';

const started = performance.now();
try {
  // --extra <file>: labelled lines (the review queue's export) added to training by their own keys.
  const at = process.argv.indexOf('--extra');
  const file = at >= 0 ? process.argv[at + 1] : undefined;
  if (at >= 0 && file === undefined) throw new Error('--extra needs a file of labelled JSON lines');
  const extra = file === undefined ? [] : parseExtra(readFileSync(file, 'utf8'), file);
  const { dir, manifest, evaluation, seconds } = await buildRelease(RELEASE_RECIPE, { extra });
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
