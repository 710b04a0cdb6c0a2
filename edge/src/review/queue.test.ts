/**
 * The review queue's bound, on the real Durable Object (SQLite storage) in workerd: 100,000 unique uncertain texts
 * leave a model's queue at its bound, the counters add up, the kept sample favours the most uncertain and novel
 * items, near-duplicates fold into one item with a count, old unlabelled items expire, and labelling still works.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { labelledTwice, nearKey, type ReviewSubmission, sampleWeight } from './queue.ts';

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
    expect(labelled).toMatchObject({ kind: 'ok', item: { label: 'spam', status: 'done' } });
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

describe('several reviewers: leases, double labels, undo, decisions', () => {
  const t0 = 1_800_000_000_000;

  it('leases an item to one reviewer at a time; another cannot label it until the lease runs out', async () => {
    const q = queue();
    await q.add([submission('lease', 1, 0.5), submission('lease', 2, 0.5)], {}, t0);
    const a = await q.next('lease', 'ana', 60_000, t0);
    const b = await q.next('lease', 'ben', 60_000, t0);
    expect(a?.id).toBe(submission('lease', 1, 0.5).id);
    expect(b?.id).toBe(submission('lease', 2, 0.5).id);
    expect(a).toMatchObject({ leased_by: 'ana', lease_until: new Date(t0 + 60_000).toISOString() });
    // Ana asks again: the same item (her lease), not Ben's.
    expect((await q.next('lease', 'ana', 60_000, t0 + 1000))?.id).toBe(a?.id);
    // (asking again renewed her lease)
    expect(await q.label(a?.id as string, 'spam', 'ben', t0 + 2000)).toMatchObject({
      kind: 'leased',
      leased_by: 'ana',
      lease_until: new Date(t0 + 61_000).toISOString(),
    });
    // The lease runs out: another reviewer may take it.
    expect((await q.next('lease', 'carl', 60_000, t0 + 62_000))?.id).toBe(a?.id);
    expect(await q.label(a?.id as string, 'ham', 'carl', t0 + 62_500)).toMatchObject({
      kind: 'ok',
      item: { label: 'ham', status: 'done', leased_by: null },
    });
    // Ben's lease ran out too: his item goes to Carl; then nothing is left for Carl.
    expect((await q.next('lease', 'carl', 60_000, t0 + 63_000))?.id).toBe(b?.id);
    expect(await q.label(b?.id as string, 'spam', 'carl', t0 + 63_500)).toMatchObject({ kind: 'ok' });
    expect(await q.next('lease', 'carl', 60_000, t0 + 64_000)).toBeUndefined();
  });

  it('skips with `after`: the next item queued after it, and the skipped one is free for others at once', async () => {
    const q = queue();
    await q.add(
      [1, 2, 3].map((i) => submission('skip', i, 0.5)),
      {},
      t0,
    );
    const [one, two, three] = [1, 2, 3].map((i) => submission('skip', i, 0.5).id);
    expect((await q.next('skip', 'ana', 60_000, t0))?.id).toBe(one);
    expect((await q.next('skip', 'ana', 60_000, t0 + 1, one))?.id).toBe(two);
    // Ana's lease on the first ended with the skip: Ben gets it (not Ana's current one).
    expect((await q.next('skip', 'ben', 60_000, t0 + 2))?.id).toBe(one);
    expect((await q.next('skip', 'ana', 60_000, t0 + 3, two))?.id).toBe(three);
    expect(await q.next('skip', 'ana', 60_000, t0 + 4, three)).toBeUndefined();
    // An unknown id skips nothing: Carl gets the oldest item nobody holds (Ana let go of the second by skipping it).
    expect((await q.next('skip', 'carl', 60_000, t0 + 5, `rv_${'0'.repeat(32)}`))?.id).toBe(two);
  });

  it('a double-labelled item needs two reviewers; agreement is final, disagreement waits for an admin', async () => {
    const q = queue();
    const items = Array.from({ length: 40 }, (_, i) => submission('twice', i, 0.5));
    await q.add(items, { doubleShare: 1 }, t0);
    const [x, y] = items as [ReviewSubmission, ReviewSubmission];
    expect(await q.label(x.id, 'spam', 'ana', t0)).toMatchObject({
      item: { status: 'open', label: null, votes_needed: 2 },
    });
    // Ana does not get it again; Ben does.
    expect((await q.next('twice', 'ana', 60_000, t0))?.id).not.toBe(x.id);
    expect(await q.label(x.id, 'spam', 'ben', t0)).toMatchObject({ item: { status: 'done', label: 'spam' } });
    await q.label(y.id, 'spam', 'ana', t0);
    expect(await q.label(y.id, 'ham', 'ben', t0)).toMatchObject({
      item: { status: 'disputed', label: null },
    });
    expect((await q.list('twice', 'disputed', 0, 10)).items.map((i) => i.id)).toEqual([y.id]);
    expect(await q.decide(y.id, 'ham', 'admin-1', t0)).toMatchObject({
      item: { status: 'done', label: 'ham', labelled_by: 'admin-1 (decision)' },
    });
    const c = await q.counters('twice');
    expect(c).toMatchObject({ double_agreed: 1, double_disputed: 1, labelled: 2, pending: 38 });
    expect(c.admitted - c.evicted - c.expired - c.labelled).toBe(c.pending);
  });

  it("undo takes a reviewer's label back: the item waits again and the counters follow", async () => {
    const q = queue();
    const item = submission('undo', 1, 0.5);
    await q.add([item], {}, t0);
    await q.label(item.id, 'spam', 'ana', t0);
    expect(await q.counters('undo')).toMatchObject({ labelled: 1, pending: 0 });
    expect(await q.unlabel(item.id, 'ben', t0)).toMatchObject({ kind: 'not_yours' });
    expect(await q.unlabel(item.id, 'ana', t0)).toMatchObject({
      item: { status: 'open', label: null, votes: [] },
    });
    expect(await q.counters('undo')).toMatchObject({ labelled: 0, pending: 1 });
    expect((await q.history(item.id)).map((h) => h.label)).toEqual(['spam', '(undone)']);
    expect(labelledTwice(item.id, 0)).toBe(false);
    expect(labelledTwice(item.id, 1)).toBe(true);
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
