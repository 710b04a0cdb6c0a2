/**
 * The review queue's bound, on the real Durable Object (SQLite storage) in workerd: 100,000 unique uncertain texts
 * leave a model's queue at its bound, the counters add up, the kept sample favours the most uncertain and novel
 * items, near-duplicates fold into one item with a count, old unlabelled items expire, and labelling still works.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { nearKey, type ReviewSubmission, sampleWeight } from './queue.ts';

/** A queue of its own (a Durable Object named for the test). */
function queue() {
  return env.REVIEW.get(env.REVIEW.idFromName(`queue-test-${crypto.randomUUID()}`));
}

function submission(
  model: string,
  i: number,
  score: number,
  extra: Partial<ReviewSubmission> = {},
): ReviewSubmission {
  const id = `rv_${i.toString(16).padStart(32, '0')}`;
  return {
    id,
    model,
    version: 'v1',
    labels: ['ham', 'spam'],
    text: `message ${id} with words only it has: ${crypto.randomUUID()}`,
    reason: 'teacher_unsure',
    answer: { label: 'ham', score, served_by: 'origin' },
    student: null,
    request_id: `req-${i}`,
    ...extra,
  };
}

describe('review queue bound (Durable Object, SQLite)', () => {
  it('100,000 unique uncertain texts leave the queue at its bound; the counters add up; labelling still works', async () => {
    const q = queue();
    const model = 'flood';
    const bound = 1000;
    // Half are very uncertain (0.5), half barely (0.74): the sample should keep mostly the first kind.
    for (let start = 0; start < 100_000; start += 2000) {
      const batch = Array.from({ length: 2000 }, (_, k) => {
        const i = start + k;
        return submission(model, i, i % 2 === 0 ? 0.5 : 0.74);
      });
      await q.add(batch, { maxPending: bound });
    }
    const c = await q.counters(model);
    expect(c.pending).toBe(bound);
    expect(c.received).toBe(100_000);
    expect(c.folded + c.admitted + c.rejected).toBe(c.received);
    expect(c.admitted - c.evicted - c.expired - c.labelled).toBe(c.pending);
    expect(c.rejected + c.evicted).toBe(100_000 - bound);

    const kept: ReviewSubmission[] = [];
    let cursor = 0;
    for (;;) {
      const page = await q.list(model, 'pending', cursor, 100);
      kept.push(...page.items);
      if (page.cursor === null) break;
      cursor = page.cursor;
    }
    expect(kept).toHaveLength(bound);
    const uncertain = kept.filter((k) => k.answer.score === 0.5).length / kept.length;
    // Weights 1.05 vs 0.57: A-Res keeps them about 2:1 at equilibrium (their arrival order mixed).
    expect(uncertain).toBeGreaterThan(0.6);

    const first = kept[0] as ReviewSubmission;
    const labelled = await q.label(first.id, 'spam', 'reviewer-1');
    expect(labelled?.label).toBe('spam');
    const after = await q.counters(model);
    expect(after).toMatchObject({ pending: bound - 1, labelled: 1 });
    expect((await q.list(model, 'labelled', 0, 10)).items.map((i) => i.id)).toEqual([first.id]);
    // The freed place is taken by the next new item.
    await q.add([submission(model, 200_000, 0.5)], { maxPending: bound });
    expect((await q.counters(model)).pending).toBe(bound);
  }, 120_000);

  it('folds exact and near duplicates into one item with a count', async () => {
    const q = queue();
    const a = submission('dups', 1, 0.5, { text: 'WIN $1000 now!!! Click   here' });
    const b = submission('dups', 2, 0.5, { text: 'win $25 NOW - click here' });
    const c = submission('dups', 3, 0.5, { text: 'something else entirely' });
    await q.add([a, a, b, c]);
    const page = await q.list('dups', 'pending', 0, 10);
    expect(page.items.map((i) => [i.text, i.seen])).toEqual([
      ['WIN $1000 now!!! Click   here', 3],
      ['something else entirely', 1],
    ]);
    expect(await q.counters('dups')).toMatchObject({ received: 4, folded: 2, admitted: 2, pending: 2 });
  });

  it('expires unlabelled items past their lifetime, keeps labelled ones, and counts them', async () => {
    const q = queue();
    const t0 = 1_800_000_000_000;
    const day = 86_400_000;
    const old = [submission('ttl', 1, 0.5), submission('ttl', 2, 0.5)];
    await q.add(old, { pendingTtlMs: 10 * day }, t0);
    await q.label(old[0]?.id as string, 'ham', 'r', t0 + day);
    await q.add([submission('ttl', 3, 0.5)], { pendingTtlMs: 10 * day }, t0 + 11 * day);
    const pending = await q.list('ttl', 'pending', 0, 10);
    expect(pending.items.map((i) => i.id)).toEqual([submission('ttl', 3, 0.5).id]);
    expect((await q.list('ttl', 'labelled', 0, 10)).items).toHaveLength(1);
    const c = await q.counters('ttl');
    expect(c).toMatchObject({ received: 3, admitted: 3, expired: 1, labelled: 1, pending: 1 });
    expect(c.admitted - c.evicted - c.expired - c.labelled).toBe(c.pending);
  });
});

describe('nearKey and sampleWeight', () => {
  it('folds case, digits, punctuation, spacing and Unicode forms; reads at most 4,096 characters', () => {
    expect(nearKey('WIN $1000 now!!!')).toBe(nearKey('win $7 NOW?'));
    expect(nearKey('Cafe\u0301')).toBe(nearKey('café'));
    expect(nearKey('a b')).not.toBe(nearKey('a c'));
    const hostile = `${'!'.repeat(100_000)}${'a '.repeat(100_000)}`;
    // Only its first 4,096 characters are read: all punctuation, so no key (the exact text is the only match).
    expect(nearKey(hostile)).toBe('');
    expect(nearKey(`x ${hostile}`)).toBe('x');
  });

  it('weighs uncertain and novel items more, never 0', () => {
    const base = { labels: ['ham', 'spam'], reason: 'teacher_unsure' as const };
    const sure = sampleWeight({ ...base, answer: { label: 'ham', score: 0.99, served_by: 'origin' } });
    const unsure = sampleWeight({ ...base, answer: { label: 'ham', score: 0.5, served_by: 'origin' } });
    const novel = sampleWeight({
      ...base,
      reason: 'out_of_distribution',
      coverage: 0.1,
      answer: { label: 'ham', score: 0.99, served_by: 'origin' },
    });
    expect(sure).toBeGreaterThan(0);
    expect(unsure).toBeGreaterThan(sure);
    expect(novel).toBeGreaterThan(sure);
    expect(
      sampleWeight({ ...base, answer: { label: 'ham', score: Number.NaN, served_by: 'x' } }),
    ).toBeGreaterThan(0);
  });
});
