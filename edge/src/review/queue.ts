/**
 * The human-review queue: one Durable Object (SQLite storage) holding every item no model was sure of, for all
 * models. An item is the input (text), the model version, the teacher's answer and the student's (when the edge
 * ran), why it came (`teacher_unsure`: the teacher's top probability under the release's review threshold;
 * `out_of_distribution`), the request id, and once a reviewer has spoken, the label with who and when (every
 * labelling is kept in `label_log`; the item carries the latest). The same input of the same model is one item
 * (its id hashes model and text), so a text sent a thousand times asks for one review.
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
}

export interface ReviewItem extends ReviewSubmission {
  created_at: string;
  /** How many times the input was routed here. */
  seen: number;
  label: string | null;
  labelled_by: string | null;
  labelled_at: string | null;
}

type Row = Record<string, SqlStorageValue>;

/** Most items one list call returns. */
export const MAX_PAGE = 100;

export class ReviewQueue extends DurableObject<Env> {
  readonly #sql: SqlStorage;

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
  }

  /** Adds items (an input already queued is counted again, not duplicated). Returns how many were new. */
  async add(items: ReviewSubmission[], now: number = Date.now()): Promise<number> {
    let added = 0;
    for (const item of items) {
      const existing = this.#sql.exec('UPDATE item SET seen = seen + 1 WHERE id = ?', item.id).rowsWritten;
      if (existing > 0) continue;
      this.#sql.exec(
        'INSERT INTO item (id, model, body, created_at) VALUES (?, ?, ?, ?)',
        item.id,
        item.model,
        JSON.stringify(item),
        now,
      );
      added++;
    }
    return added;
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
    };
  }

  /** A page of a model's items, oldest first: pending ones (no label yet) or labelled ones; `after` is a cursor. */
  async list(
    model: string,
    state: 'pending' | 'labelled',
    after: number,
    limit: number,
  ): Promise<{ items: ReviewItem[]; cursor: number | null; pending: number }> {
    const rows = this.#sql
      .exec<Row>(
        `SELECT * FROM item WHERE model = ? AND label IS ${state === 'pending' ? '' : 'NOT '}NULL AND seq > ?
         ORDER BY seq LIMIT ?`,
        model,
        after,
        Math.min(limit, MAX_PAGE) + 1,
      )
      .toArray();
    const more = rows.length > Math.min(limit, MAX_PAGE);
    const page = rows.slice(0, Math.min(limit, MAX_PAGE));
    const pending = this.#sql
      .exec<Row>('SELECT COUNT(*) AS n FROM item WHERE model = ? AND label IS NULL', model)
      .one();
    return {
      items: page.map((r) => this.#item(r)),
      cursor: more ? Number(page.at(-1)?.seq) : null,
      pending: Number(pending.n),
    };
  }

  async get(id: string): Promise<ReviewItem | undefined> {
    const row = this.#sql.exec<Row>('SELECT * FROM item WHERE id = ?', id).toArray()[0];
    return row === undefined ? undefined : this.#item(row);
  }

  /**
   * Records a reviewer's label. The same label again from the same reviewer changes nothing (idempotent); another
   * label, or another reviewer, is logged and becomes the item's label. Returns the item, or undefined.
   */
  async label(
    id: string,
    label: string,
    by: string,
    now: number = Date.now(),
  ): Promise<ReviewItem | undefined> {
    const item = await this.get(id);
    if (item === undefined) return undefined;
    if (item.label === label && item.labelled_by === by) return item;
    this.#sql.exec('INSERT INTO label_log (item, label, by, at) VALUES (?, ?, ?, ?)', id, label, by, now);
    this.#sql.exec(
      'UPDATE item SET label = ?, labelled_by = ?, labelled_at = ? WHERE id = ?',
      label,
      by,
      now,
      id,
    );
    return this.get(id);
  }

  /** Every label given to an item, oldest first. */
  async history(id: string): Promise<Array<{ label: string; by: string; at: string }>> {
    return this.#sql
      .exec<Row>('SELECT label, by, at FROM label_log WHERE item = ? ORDER BY rowid', id)
      .toArray()
      .map((r) => ({ label: String(r.label), by: String(r.by), at: new Date(Number(r.at)).toISOString() }));
  }
}
