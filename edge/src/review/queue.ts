/**
 * The human-review queue: one Durable Object (SQLite storage) holding every item no model was sure of, for all
 * models. An item is the input (text), the model version, the teacher's answer and the student's (when the edge
 * ran), why it came (`teacher_unsure`: the teacher's top probability under the release's review threshold;
 * `out_of_distribution`), the request id, and once a reviewer has spoken, the label with who and when (every
 * labelling is kept in `label_log`; the item carries the latest). The same input of the same model is one item
 * (its id hashes model and text), so a text sent a thousand times asks for one review.
 *
 * Bounded per model: every uncertain unique text would otherwise add an item, so a flood of new-domain or hostile
 * traffic would fill storage with items nobody labels. Near-duplicates (the same text up to case, digits,
 * punctuation and spacing: `nearKey`) fold into the first one with a count. Above `maxPending` unlabelled items the
 * queue keeps a weighted random sample (A-Res reservoir: key = ln(u) / weight, the largest keys kept), the weight
 * favouring the most uncertain answers and the most novel (out-of-distribution, low-coverage) inputs; unlabelled
 * items older than `pendingTtlMs` expire. Counters per model say where every submission went:
 * received = folded + admitted + rejected, and pending = admitted - evicted - expired - labelled.
 */
import { DurableObject } from 'cloudflare:workers';

export type ReviewReason = 'teacher_unsure' | 'out_of_distribution';

/** What the cascade hands over for one item. */
export interface ReviewSubmission {
  id: string;
  model: string;
  version: string;
  labels: string[];
  text: string;
  reason: ReviewReason;
  answer: { label: string; score: number; served_by: string };
  student: { label: string; score: number } | null;
  request_id: string;
  /** The share of the input's features seen in training (releases with an OOD rule). */
  coverage?: number;
}

/** Where a model's submissions went (see the file's comment for the sums). */
export interface QueueCounters {
  received: number;
  /** Exact or near duplicates of an item already queued. */
  folded: number;
  admitted: number;
  /** Not admitted: the queue was full and the item's sample key under every pending one's. */
  rejected: number;
  /** Pending items dropped for a new one with a larger sample key. */
  evicted: number;
  expired: number;
  /** Items given their first label. */
  labelled: number;
  /** Unlabelled items now. */
  pending: number;
  /** Items labelled twice whose two labels agreed / disagreed (the reviewers' agreement). */
  double_agreed: number;
  double_disputed: number;
}

export interface QueueBounds {
  /** Most unlabelled items per model; above it a weighted sample is kept. @default 10000 */
  maxPending?: number;
  /** Unlabelled items older than this expire, ms. @default 30 days */
  pendingTtlMs?: number;
  /** The share of new items that two reviewers label (chosen by the item's id), in [0, 1]. @default 0 */
  doubleShare?: number;
}

/** True for the items of the double-labelled share: the first 32 bits of the id's hash under `share`. */
export function labelledTwice(id: string, share: number): boolean {
  const bits = Number.parseInt(id.slice(3, 11), 16);
  return Number.isFinite(bits) && bits / 2 ** 32 < share;
}

export const DEFAULT_MAX_PENDING = 10_000;
export const DEFAULT_PENDING_TTL_MS = 30 * 24 * 3600 * 1000;
const COUNTERS = [
  'received',
  'folded',
  'admitted',
  'rejected',
  'evicted',
  'expired',
  'labelled',
  'pending',
  'double_agreed',
  'double_disputed',
] as const;
type Counter = (typeof COUNTERS)[number];
/** Expired items deleted per pass (a pass runs at most once a minute, on add). */
const EXPIRE_BATCH = 1000;

/**
 * The same text up to case, Unicode form, digits, punctuation and spacing (its first 4,096 characters): inputs
 * with the same key are one item to review. Linear in the input (no backtracking).
 */
export function nearKey(text: string): string {
  return text
    .slice(0, 4096)
    .normalize('NFKC')
    .toLowerCase()
    .replace(/\p{N}+/gu, '0')
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim()
    .slice(0, 1024);
}

/**
 * How much an item is worth keeping, > 0: its answer's uncertainty (1 - the top probability, scaled to [0, 1] by
 * the number of labels) plus its novelty (out of distribution: 1 - coverage, or 1 without one), with a floor so
 * every item has a chance.
 */
export function sampleWeight(
  item: Pick<ReviewSubmission, 'labels' | 'answer' | 'reason' | 'coverage'>,
): number {
  const k = Math.max(2, item.labels.length);
  const top = Math.min(1, Math.max(0, Number.isFinite(item.answer.score) ? item.answer.score : 1));
  const uncertainty = Math.min(1, (1 - Math.max(top, 1 - top)) / (1 - 1 / k));
  const novelty =
    item.reason === 'out_of_distribution' ? 1 - Math.min(1, Math.max(0, item.coverage ?? 0)) : 0;
  return 0.05 + uncertainty + novelty;
}

export interface ReviewItem extends ReviewSubmission {
  created_at: string;
  /** How many times the input was routed here. */
  seen: number;
  /** The final label (what training gets): null while it waits for labels or for an admin's decision. */
  label: string | null;
  labelled_by: string | null;
  labelled_at: string | null;
  /** open: waiting for labels; disputed: two reviewers disagreed, an admin decides; done: `label` is final. */
  status: ReviewStatus;
  /** Labels from different reviewers it needs: 2 for the share labelled twice (REVIEW_DOUBLE_SHARE), else 1. */
  votes_needed: number;
  /** The labels given so far, one per reviewer. */
  votes: Array<{ by: string; label: string; at: string }>;
  /** Who has it on their screen, until when (a lease from `next`); null when nobody. */
  leased_by: string | null;
  lease_until: string | null;
}

export type ReviewStatus = 'open' | 'disputed' | 'done';

/** What a label (or an undo, or a decision) did: the item, or why not. */
export type LabelOutcome =
  | { kind: 'ok'; item: ReviewItem }
  | { kind: 'missing' }
  | { kind: 'leased'; leased_by: string; lease_until: string }
  | { kind: 'not_yours' };

type Row = Record<string, SqlStorageValue>;

/** Most items one list call returns. */
export const MAX_PAGE = 100;

export class ReviewQueue extends DurableObject<Env> {
  readonly #sql: SqlStorage;

  #lastExpiry = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS item (
      seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, model TEXT NOT NULL, body TEXT NOT NULL,
      created_at INTEGER NOT NULL, seen INTEGER NOT NULL DEFAULT 1,
      label TEXT, labelled_by TEXT, labelled_at INTEGER)`);
    this.#sql.exec('CREATE INDEX IF NOT EXISTS item_model ON item (model, label, seq)');
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS label_log (
      item TEXT NOT NULL, label TEXT NOT NULL, by TEXT NOT NULL, at INTEGER NOT NULL)`);
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS counter (
      model TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY (model, name))`);
    const columns = new Set(
      this.#sql
        .exec<Row>('PRAGMA table_info(item)')
        .toArray()
        .map((r) => String(r.name)),
    );
    if (!columns.has('sample_key')) {
      // Queues from before the bound: their items are kept first (key 0 is the largest) and counted as pending.
      this.#sql.exec('ALTER TABLE item ADD COLUMN sample_key REAL NOT NULL DEFAULT 0');
      this.#sql.exec('ALTER TABLE item ADD COLUMN near TEXT');
      this.#sql.exec(`INSERT OR REPLACE INTO counter (model, name, value)
        SELECT model, 'pending', COUNT(*) FROM item WHERE label IS NULL GROUP BY model`);
    }
    if (!columns.has('status')) {
      this.#sql.exec("ALTER TABLE item ADD COLUMN status TEXT NOT NULL DEFAULT 'open'");
      this.#sql.exec('ALTER TABLE item ADD COLUMN votes_needed INTEGER NOT NULL DEFAULT 1');
      this.#sql.exec('ALTER TABLE item ADD COLUMN leased_by TEXT');
      this.#sql.exec('ALTER TABLE item ADD COLUMN lease_until INTEGER');
      this.#sql.exec("UPDATE item SET status = 'done' WHERE label IS NOT NULL");
    }
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS vote (
      item TEXT NOT NULL, by TEXT NOT NULL, label TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (item, by))`);
    this.#sql.exec('CREATE INDEX IF NOT EXISTS item_sample ON item (model, label, sample_key)');
    this.#sql.exec('CREATE INDEX IF NOT EXISTS item_near ON item (model, near)');
    this.#sql.exec('CREATE INDEX IF NOT EXISTS item_age ON item (label, created_at)');
  }

  /**
   * Adds items within the model's bound (see the file's comment): an input already queued, exactly or nearly, is
   * counted on that item; a new one is admitted while the model has room, else it competes for a place in the
   * weighted sample. Returns how many were admitted.
   */
  async add(items: ReviewSubmission[], bounds: QueueBounds = {}, now: number = Date.now()): Promise<number> {
    const maxPending = bounds.maxPending ?? DEFAULT_MAX_PENDING;
    const ttl = bounds.pendingTtlMs ?? DEFAULT_PENDING_TTL_MS;
    if (!Number.isInteger(maxPending) || maxPending < 1) {
      throw new TypeError(`review queue: maxPending must be an integer >= 1, got ${maxPending}`);
    }
    if (!(ttl > 0)) throw new TypeError(`review queue: pendingTtlMs must be > 0, got ${ttl}`);
    const share = bounds.doubleShare ?? 0;
    if (!(share >= 0 && share <= 1))
      throw new TypeError(`review queue: doubleShare must be in [0, 1], got ${share}`);
    const counts = new Map<string, Record<Counter, number>>();
    const count = (model: string, name: Counter, n = 1) => {
      let c = counts.get(model);
      if (c === undefined) {
        c = Object.fromEntries(COUNTERS.map((k) => [k, 0])) as Record<Counter, number>;
        counts.set(model, c);
      }
      c[name] += n;
    };
    if (now - this.#lastExpiry >= 60_000) {
      this.#lastExpiry = now;
      const gone = this.#sql
        .exec<Row>(
          `DELETE FROM item WHERE seq IN (
             SELECT seq FROM item WHERE label IS NULL AND created_at < ? ORDER BY created_at LIMIT ?)
           RETURNING model`,
          now - ttl,
          EXPIRE_BATCH,
        )
        .toArray();
      for (const r of gone) {
        count(String(r.model), 'expired');
        count(String(r.model), 'pending', -1);
      }
    }
    let admitted = 0;
    for (const item of items) {
      count(item.model, 'received');
      if (this.#sql.exec('UPDATE item SET seen = seen + 1 WHERE id = ?', item.id).rowsWritten > 0) {
        count(item.model, 'folded');
        continue;
      }
      // No letters or digits in its first 4,096 characters: no near key, only the exact text is the same item.
      const near = nearKey(item.text) || null;
      const folded =
        near === null
          ? 0
          : this.#sql.exec(
              'UPDATE item SET seen = seen + 1 WHERE seq = (SELECT seq FROM item WHERE model = ? AND near = ? LIMIT 1)',
              item.model,
              near,
            ).rowsWritten;
      if (folded > 0) {
        count(item.model, 'folded');
        continue;
      }
      // A-Res: the largest keys ln(u) / weight make a sample weighted by `weight` (u in (0, 1]).
      const key = Math.log(1 - Math.random()) / sampleWeight(item);
      const pending = this.#pending(item.model) + (counts.get(item.model)?.pending ?? 0);
      if (pending >= maxPending) {
        const lowest = this.#sql
          .exec<Row>(
            'SELECT seq, sample_key FROM item WHERE model = ? AND label IS NULL ORDER BY sample_key LIMIT 1',
            item.model,
          )
          .toArray()[0];
        if (lowest === undefined || Number(lowest.sample_key) >= key) {
          count(item.model, 'rejected');
          continue;
        }
        this.#sql.exec('DELETE FROM item WHERE seq = ?', lowest.seq);
        count(item.model, 'evicted');
        count(item.model, 'pending', -1);
      }
      this.#sql.exec(
        'INSERT INTO item (id, model, body, created_at, sample_key, near, votes_needed) VALUES (?, ?, ?, ?, ?, ?, ?)',
        item.id,
        item.model,
        JSON.stringify(item),
        now,
        key,
        near,
        labelledTwice(item.id, share) ? 2 : 1,
      );
      count(item.model, 'admitted');
      count(item.model, 'pending');
      admitted++;
    }
    for (const [model, c] of counts) {
      for (const name of COUNTERS) if (c[name] !== 0) this.#bump(model, name, c[name]);
    }
    return admitted;
  }

  #bump(model: string, name: Counter, by: number): void {
    this.#sql.exec(
      `INSERT INTO counter (model, name, value) VALUES (?, ?, ?)
       ON CONFLICT (model, name) DO UPDATE SET value = value + excluded.value`,
      model,
      name,
      by,
    );
  }

  #pending(model: string): number {
    const row = this.#sql
      .exec<Row>("SELECT value FROM counter WHERE model = ? AND name = 'pending'", model)
      .toArray()[0];
    return row === undefined ? 0 : Number(row.value);
  }

  /** Where a model's submissions went. */
  async counters(model: string): Promise<QueueCounters> {
    const out = Object.fromEntries(COUNTERS.map((k) => [k, 0])) as unknown as QueueCounters;
    for (const r of this.#sql.exec<Row>('SELECT name, value FROM counter WHERE model = ?', model)) {
      (out as unknown as Record<string, number>)[String(r.name)] = Number(r.value);
    }
    return out;
  }

  #item(row: Row): ReviewItem {
    const iso = (v: SqlStorageValue | undefined) =>
      v === null || v === undefined ? null : new Date(Number(v)).toISOString();
    return {
      ...(JSON.parse(String(row.body)) as ReviewSubmission),
      created_at: iso(row.created_at) as string,
      seen: Number(row.seen),
      label: row.label === null ? null : String(row.label),
      labelled_by: row.labelled_by === null ? null : String(row.labelled_by),
      labelled_at: iso(row.labelled_at),
      status: String(row.status) as ReviewStatus,
      votes_needed: Number(row.votes_needed),
      votes: this.#votes(String(row.id)),
      leased_by: row.leased_by === null ? null : String(row.leased_by),
      lease_until: iso(row.lease_until),
    };
  }

  #votes(id: string): ReviewItem['votes'] {
    return this.#sql
      .exec<Row>('SELECT by, label, at FROM vote WHERE item = ? ORDER BY at, by', id)
      .toArray()
      .map((r) => ({ by: String(r.by), label: String(r.label), at: new Date(Number(r.at)).toISOString() }));
  }

  /**
   * A page of a model's items, oldest first: pending ones (no final label yet: open or disputed), labelled ones
   * (final), or the disputed ones (waiting for an admin); `after` is a cursor.
   */
  async list(
    model: string,
    state: 'pending' | 'labelled' | 'disputed',
    after: number,
    limit: number,
  ): Promise<{ items: ReviewItem[]; cursor: number | null; pending: number }> {
    const where = {
      pending: 'label IS NULL',
      labelled: 'label IS NOT NULL',
      disputed: "label IS NULL AND status = 'disputed'",
    }[state];
    const rows = this.#sql
      .exec<Row>(
        `SELECT * FROM item WHERE model = ? AND ${where} AND seq > ? ORDER BY seq LIMIT ?`,
        model,
        after,
        Math.min(limit, MAX_PAGE) + 1,
      )
      .toArray();
    const more = rows.length > Math.min(limit, MAX_PAGE);
    const page = rows.slice(0, Math.min(limit, MAX_PAGE));
    return {
      items: page.map((r) => this.#item(r)),
      cursor: more ? Number(page.at(-1)?.seq) : null,
      pending: this.#pending(model),
    };
  }

  async get(id: string): Promise<ReviewItem | undefined> {
    const row = this.#sql.exec<Row>('SELECT * FROM item WHERE id = ?', id).toArray()[0];
    return row === undefined ? undefined : this.#item(row);
  }

  /**
   * Leases the model's oldest open item that `by` has not labelled and nobody else holds (or whose lease ran out) to
   * `by` until `now + leaseMs`: two reviewers never get the same item at once. Undefined when none is left.
   * `after` (an item id) skips: only items queued after it qualify, and `by`'s lease on it ends (others may take it).
   */
  async next(
    model: string,
    by: string,
    leaseMs: number,
    now: number = Date.now(),
    after?: string,
  ): Promise<ReviewItem | undefined> {
    let from = 0;
    if (after !== undefined) {
      const skipped = this.#sql
        .exec<Row>('SELECT seq FROM item WHERE id = ? AND model = ?', after, model)
        .toArray()[0];
      if (skipped !== undefined) {
        from = Number(skipped.seq);
        this.#sql.exec(
          'UPDATE item SET leased_by = NULL, lease_until = NULL WHERE seq = ? AND leased_by = ?',
          skipped.seq,
          by,
        );
      }
    }
    const row = this.#sql
      .exec<Row>(
        `SELECT seq FROM item WHERE model = ? AND seq > ? AND label IS NULL AND status = 'open'
           AND (lease_until IS NULL OR lease_until < ? OR leased_by = ?)
           AND NOT EXISTS (SELECT 1 FROM vote WHERE vote.item = item.id AND vote.by = ?)
         ORDER BY seq LIMIT 1`,
        model,
        from,
        now,
        by,
        by,
      )
      .toArray()[0];
    if (row === undefined) return undefined;
    this.#sql.exec(
      'UPDATE item SET leased_by = ?, lease_until = ? WHERE seq = ?',
      by,
      now + leaseMs,
      row.seq,
    );
    return this.#item(this.#sql.exec<Row>('SELECT * FROM item WHERE seq = ?', row.seq).one());
  }

  /**
   * Records `by`'s label (one per reviewer; the same again changes nothing). An item another reviewer holds (an
   * unexpired lease) is refused. Once it has the labels it needs it is final: one label, or two that agree; two that
   * disagree make it disputed, waiting for an admin's `decide`. A final single-labelled item takes a later label as
   * its label (a correction). Every label is kept in the history.
   */
  async label(id: string, label: string, by: string, now: number = Date.now()): Promise<LabelOutcome> {
    const row = this.#row(id);
    if (row === undefined) return { kind: 'missing' };
    const leasedBy = row.leased_by === null ? null : String(row.leased_by);
    if (row.label === null && leasedBy !== null && leasedBy !== by && Number(row.lease_until) >= now) {
      return {
        kind: 'leased',
        leased_by: leasedBy,
        lease_until: new Date(Number(row.lease_until)).toISOString(),
      };
    }
    const mine = this.#sql.exec<Row>('SELECT label FROM vote WHERE item = ? AND by = ?', id, by).toArray()[0];
    if (mine !== undefined && String(mine.label) === label) return { kind: 'ok', item: this.#item(row) };
    this.#sql.exec('INSERT INTO label_log (item, label, by, at) VALUES (?, ?, ?, ?)', id, label, by, now);
    this.#sql.exec(
      `INSERT INTO vote (item, by, label, at) VALUES (?, ?, ?, ?)
       ON CONFLICT (item, by) DO UPDATE SET label = excluded.label, at = excluded.at`,
      id,
      by,
      label,
      now,
    );
    this.#settle(row, now);
    return { kind: 'ok', item: this.#item(this.#row(id) as Row) };
  }

  /** Takes back `by`'s label of an item (the console's undo): it waits for labels again, unless others settle it. */
  async unlabel(id: string, by: string, now: number = Date.now()): Promise<LabelOutcome> {
    const row = this.#row(id);
    if (row === undefined) return { kind: 'missing' };
    if (this.#sql.exec('DELETE FROM vote WHERE item = ? AND by = ?', id, by).rowsWritten === 0) {
      return { kind: 'not_yours' };
    }
    this.#sql.exec(
      'INSERT INTO label_log (item, label, by, at) VALUES (?, ?, ?, ?)',
      id,
      '(undone)',
      by,
      now,
    );
    this.#settle(row, now);
    return { kind: 'ok', item: this.#item(this.#row(id) as Row) };
  }

  /** An admin's label for an item (a disputed one, or any): final, whatever the reviewers said. */
  async decide(id: string, label: string, by: string, now: number = Date.now()): Promise<LabelOutcome> {
    const row = this.#row(id);
    if (row === undefined) return { kind: 'missing' };
    this.#sql.exec(
      'INSERT INTO label_log (item, label, by, at) VALUES (?, ?, ?, ?)',
      id,
      label,
      `${by} (decision)`,
      now,
    );
    this.#final(row, label, `${by} (decision)`, now);
    return { kind: 'ok', item: this.#item(this.#row(id) as Row) };
  }

  #row(id: string): Row | undefined {
    return this.#sql.exec<Row>('SELECT * FROM item WHERE id = ?', id).toArray()[0];
  }

  /** An item's state from its labels (after a label or an undo). */
  #settle(row: Row, now: number): void {
    const votes = this.#votes(String(row.id));
    const model = String(row.model);
    const needed = Number(row.votes_needed);
    if (votes.length === 0 || (needed > 1 && votes.length < needed)) {
      this.#open(row);
    } else if (needed <= 1) {
      const latest = votes.reduce((a, b) => (b.at >= a.at ? b : a));
      this.#final(row, latest.label, latest.by, now);
    } else if (new Set(votes.map((v) => v.label)).size === 1) {
      if (String(row.status) === 'open') this.#bump(model, 'double_agreed', 1);
      this.#final(row, votes[0]?.label as string, votes.map((v) => v.by).join(', '), now);
    } else {
      if (String(row.status) === 'open') this.#bump(model, 'double_disputed', 1);
      this.#unfinal(row, 'disputed');
    }
  }

  /** Back to waiting for labels (another reviewer's turn: the lease ends with the label). */
  #open(row: Row): void {
    this.#unfinal(row, 'open');
  }

  #unfinal(row: Row, status: 'open' | 'disputed'): void {
    if (row.label !== null) {
      this.#bump(String(row.model), 'labelled', -1);
      this.#bump(String(row.model), 'pending', 1);
    }
    this.#sql.exec(
      `UPDATE item SET status = ?, label = NULL, labelled_by = NULL, labelled_at = NULL, leased_by = NULL,
         lease_until = NULL WHERE seq = ?`,
      status,
      row.seq,
    );
  }

  #final(row: Row, label: string, by: string, now: number): void {
    if (row.label === null) {
      this.#bump(String(row.model), 'labelled', 1);
      this.#bump(String(row.model), 'pending', -1);
    }
    this.#sql.exec(
      `UPDATE item SET status = 'done', label = ?, labelled_by = ?, labelled_at = ?, leased_by = NULL,
         lease_until = NULL WHERE seq = ?`,
      label,
      by,
      now,
      row.seq,
    );
  }

  /** Every label given to an item, oldest first. */
  async history(id: string): Promise<Array<{ label: string; by: string; at: string }>> {
    return this.#sql
      .exec<Row>('SELECT label, by, at FROM label_log WHERE item = ? ORDER BY rowid', id)
      .toArray()
      .map((r) => ({ label: String(r.label), by: String(r.by), at: new Date(Number(r.at)).toISOString() }));
  }
}
