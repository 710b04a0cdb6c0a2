/**
 * `npm run -s test-split > test-split.ndjson`: the release recipe's test split (907 SpamAssassin messages never
 * trained on) as a job body, one `{"text": ...}` per line; `--labels` adds each message's label (for checking the
 * results), which a job refuses, so keep it for your own comparison.
 */
import { testMessages } from '../test/helpers.ts';
import { LABELS } from '../training/src/data/corpus.ts';

const labels = process.argv.includes('--labels');
for (const m of testMessages()) {
  const line = labels ? { text: m.text, label: LABELS[m.label] } : { text: m.text };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}
