import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildRelease } from '../build.ts';
import { RELEASE_RECIPE } from '../config.ts';
import { SHUFFLED_RECIPE } from '../shuffled.ts';
import { loadCorpus } from './corpus.ts';
import { ExtraDataError, parseExtra, splitOfKey, splitWithExtra } from './extra.ts';
import { splitStratified } from './split.ts';

const split = RELEASE_RECIPE.split;

/** The first review key (review/rv_<n>) the split puts in `part`. */
function keyIn(part: 'train' | 'validation' | 'test', from = 0): string {
  for (let n = from; ; n++) {
    const key = `review/rv_${n.toString(16).padStart(32, '0')}`;
    if (splitOfKey(key, split) === part) return key;
  }
}

describe('extra labelled data (the review export) in training (real corpus)', () => {
  const corpus = loadCorpus();

  it("a reviewed label changes the next release's training set; the corpus splits do not move; no test text leaks", () => {
    const base = splitStratified(corpus, split);
    const testMessage = base.test[0] as (typeof base.test)[number];
    const lines = [
      {
        key: keyIn('train'),
        text: 'Your parcel is held at customs: pay 1.99 EUR at http://parcel.example',
        label: 'spam',
      },
      { key: keyIn('test'), text: 'minutes of the Tuesday planning meeting attached', label: 'ham' },
      // A client sent a test-split message and a reviewer labelled it: dropped, whatever its key.
      { key: keyIn('train', 1000), text: testMessage.text, label: 'spam' },
    ];
    const extra = parseExtra(lines.map((l) => JSON.stringify(l)).join('\n'));
    const withExtra = splitWithExtra(corpus, extra, split);
    expect(withExtra.extra).toEqual({ train: 1, validation: 0, test: 1, dropped_duplicates: 1 });
    // The corpus is split exactly as before.
    for (const part of ['train', 'validation', 'test'] as const) {
      expect(withExtra[part].filter((m) => m.group !== 'review').map((m) => m.key)).toEqual(
        base[part].map((m) => m.key),
      );
    }
    const trained = withExtra.train.find((m) => m.key === lines[0]?.key);
    expect(trained).toMatchObject({ label: 1, group: 'review', text: lines[0]?.text });
    expect(withExtra.test.some((m) => m.key === lines[1]?.key)).toBe(true);
    expect(withExtra.train.some((m) => m.key === lines[1]?.key)).toBe(false);
    expect(withExtra.train.filter((m) => m.text === testMessage.text)).toEqual([]);
  });

  it('refuses a bad line naming it', () => {
    for (const [text, message] of [
      ['{"key": "review/a", "text": "x", "label": "eggs"}', /line 1: label must be one of ham, spam/],
      ['\n{"key": "nope", "text": "x", "label": "ham"}', /line 2: key must be/],
      ['{"key": "review/a", "text": 3, "label": "ham"}', /line 1: text must be a string/],
      [
        '{"key": "review/a", "text": "x", "label": "ham"}\n{"key": "review/a", "text": "y", "label": "spam"}',
        /line 2: key review\/a repeats/,
      ],
      ['{oops', /line 1: not valid JSON/],
    ] as const) {
      expect(() => parseExtra(text, 'f.ndjson')).toThrow(ExtraDataError);
      expect(() => parseExtra(text, 'f.ndjson')).toThrow(message);
    }
  });

  it('a build with extras is another release (its version hashes them) and logs where they went', async () => {
    const root = await mkdtemp(join(tmpdir(), 'extra-'));
    try {
      const logs: string[] = [];
      const extra = parseExtra(
        JSON.stringify({ key: keyIn('train'), text: 'cheap meds here', label: 'spam' }),
      );
      const plain = await buildRelease(SHUFFLED_RECIPE, { root, log: () => {} });
      const more = await buildRelease(SHUFFLED_RECIPE, { root, extra, log: (l) => logs.push(l) });
      expect(more.manifest.version).not.toBe(plain.manifest.version);
      expect(logs).toContain(
        'extra labelled data: {"train":1,"validation":0,"test":0,"dropped_duplicates":0}',
      );
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }, 60_000);
});
