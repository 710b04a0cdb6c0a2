import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { beforeAll, describe, expect, it } from 'vitest';
import { RELEASE_RECIPE } from '../config.ts';
import { loadCorpus, type Message } from '../data/corpus.ts';
import { splitStratified } from '../data/split.ts';
import {
  BOGOFILTER_TMP_PREFIX,
  bogofilterCrossValidation,
  bogofilterScores,
  bogofilterVersion,
  type PeerScores,
} from './peer.ts';

// Runs the real bogofilter on a small deterministic subset of the real split (every 14th train message, every 9th
// test message: the splits are sorted by key, so the stride samples every group).
const splits = splitStratified(loadCorpus(), RELEASE_RECIPE.split);
const train = splits.train.filter((_, i) => i % 14 === 0);
const score = splits.test.filter((_, i) => i % 9 === 0);

async function ourTempDirs(): Promise<string[]> {
  return (await readdir(tmpdir())).filter((n) => n.startsWith(BOGOFILTER_TMP_PREFIX));
}

function scored(r: Awaited<ReturnType<typeof bogofilterScores>>): PeerScores {
  if (!('spam_probs' in r)) throw new Error(`bogofilter unavailable: ${r.reason}`);
  return r;
}

/** A message whose body holds mbox-style envelope lines ("From " after a blank line), quoted or not. */
function fromLines(label: 0 | 1, key: string): Message {
  const envelope = 'From someone@example.org  Thu Aug 22 12:36:23 2002';
  const text = [
    envelope,
    'From: Someone <someone@example.org>',
    'Subject: forwarded mail',
    '',
    'See below.',
    '',
    envelope,
    'Subject: inner one',
    '',
    'From here on, text that starts with From.',
    '',
    '>From someone@example.org  Thu Aug 22 12:36:23 2002',
    '',
    envelope,
    'Subject: inner two',
    '',
    'last part',
    '',
  ].join('\n');
  return { key, group: 'synthetic', label, text, checksum: '' };
}

describe('bogofilter peer baseline (real bogofilter)', () => {
  beforeAll(async () => {
    if ((await bogofilterVersion()) === undefined) {
      throw new Error('bogofilter is not installed: apt-get install bogofilter (.ci/run installs it in CI)');
    }
  });

  it('reports its version', async () => {
    expect(await bogofilterVersion()).toMatch(/^bogofilter version \d+\.\d+/);
  });

  it('trains on a train subset, scores every test message in order, removes its temp dir', async () => {
    expect(train.length).toBeGreaterThan(290);
    expect(score.length).toBeGreaterThan(95);
    const before = await ourTempDirs();
    const r = scored(await bogofilterScores(train, score));
    expect((await ourTempDirs()).filter((d) => !before.includes(d))).toEqual([]);

    expect(r.name).toBe('bogofilter');
    expect(r.version).toMatch(/^bogofilter version/);
    expect(r.spam_probs).toBeInstanceOf(Float32Array);
    expect(r.spam_probs.length).toBe(score.length);
    expect(r.unsure.length).toBe(score.length);
    for (const p of r.spam_probs) expect(p >= 0 && p <= 1).toBe(true);
    expect(r.train_seconds).toBeGreaterThan(0);
    expect(r.score_seconds).toBeGreaterThan(0);
    const right = score.filter((m, i) => ((r.spam_probs[i] as number) >= 0.5 ? 1 : 0) === m.label).length;
    expect(right / score.length).toBeGreaterThan(0.9);
    // Scores follow the input order: reversing the scored messages reverses the scores.
    const back = scored(await bogofilterScores(train, [...score].reverse()));
    expect(Array.from(back.spam_probs).reverse()).toEqual(Array.from(r.spam_probs));
    expect([...back.unsure].reverse()).toEqual(r.unsure);
  });

  it('registers and scores a message with "From " body lines as exactly one message', async () => {
    // bogofilterScores throws unless bogofilter's .MSG_COUNT equals the messages registered per class.
    const spam = fromLines(1, 'synthetic/from-spam');
    const ham = fromLines(0, 'synthetic/from-ham');
    const r = scored(await bogofilterScores([...train.slice(0, 50), spam, ham], [spam, ham, spam]));
    expect(r.spam_probs.length).toBe(3);
    expect(r.spam_probs[0]).toBe(r.spam_probs[2]);
  });

  it('cross-validates deterministically over key-hashed folds', async () => {
    const messages = train;
    const before = await ourTempDirs();
    const cv = await bogofilterCrossValidation(messages, 3);
    // Only this call's directories matter (another process may be using bogofilter at the same time).
    expect((await ourTempDirs()).filter((d) => !before.includes(d))).toEqual([]);
    if (!('accuracy' in cv)) throw new Error(`bogofilter unavailable: ${cv.reason}`);
    expect(cv.n).toBe(messages.length);
    expect(cv.per_fold.length).toBe(3);
    expect(cv.accuracy).toBeCloseTo((cv.n - cv.errors) / cv.n, 12);
    expect(cv.accuracy).toBeGreaterThan(0.9);
    for (const a of cv.per_fold) expect(a).toBeGreaterThan(0.8);
    // Folds depend on the keys, not on the order.
    expect(await bogofilterCrossValidation([...messages].reverse(), 3)).toEqual(cv);
  });

  it('rejects bad fold counts and empty training sets', async () => {
    await expect(bogofilterCrossValidation(train, 1)).rejects.toThrow(RangeError);
    await expect(bogofilterCrossValidation(train.slice(0, 2), 5)).rejects.toThrow(/fold \d of 5 is empty/);
    await expect(bogofilterScores([], score)).rejects.toThrow(RangeError);
  });
});
