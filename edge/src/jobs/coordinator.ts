/**
 * One Durable Object per job (named by the job id), SQLite storage: the job's spec and a row per chunk with its
 * state (`queued` -> `running` -> `done` | `failed`), attempts and counts. It is where at-least-once delivery
 * becomes exactly-once results: a chunk runs only when `claim` says so (never when done, cancelled or running
 * fresh), and `complete` records it once. Its alarm keeps a job from staying `running` forever: a chunk running or
 * queued for longer than `STUCK_MS` is sent again, and after `MAX_ATTEMPTS` recorded as failed.
 */
import { DurableObject } from 'cloudflare:workers';
import {
  deliverWebhook,
  WEBHOOK_MAX_ATTEMPTS,
  WEBHOOK_TIMEOUT_MS,
  webhookBackoffMs,
  webhookSecretFor,
} from './webhook.ts';

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'partially_failed' | 'cancelled';
export type ChunkState = 'queued' | 'running' | 'done' | 'failed';

/** What a job is, fixed at submission. */
export interface JobSpec {
  id: string;
  /** The owner's key id (principal.id) and name. */
  owner: string;
  owner_name: string;
  model: string;
  /** The version the submission pinned, if any. */
  version: string | null;
  rows: number;
  bytes: number;
  chunks: Array<{ key: string; rows: number; first: number }>;
  /** R2 prefix of the job's objects (`jobs/{owner}/{id}/`). */
  prefix: string;
  created_at: string;
  /** Where the completion webhook goes, if any (jobs/webhook.ts). */
  webhook?: string | null;
  /** A tensor model's job: its inputs, cascade output and labels (rows go to the OIP infer route). */
  tensor?: {
    inputs: Array<{ name: string; datatype: string; shape: number[] }>;
    output: { name: string; kind: 'probabilities' | 'score' };
    labels: string[];
  } | null;
}

/** A queue message: one chunk of one job. */
export interface ChunkMessage {
  job: string;
  chunk: number;
}

export interface ChunkView {
  chunk: number;
  state: ChunkState;
  rows: number;
  first: number;
  attempts: number;
  error: string | null;
}

/** GET /v1/jobs/{id}'s answer (without URLs, which the route adds). */
export interface JobView {
  id: string;
  model: string;
  version: string | null;
  owner: string;
  status: JobState;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  progress: {
    rows_done: number;
    rows_total: number;
    chunks_done: number;
    chunks_failed: number;
    chunks_total: number;
  };
  served_by: Record<string, number>;
  /** The completion webhook's delivery, when one was asked for. */
  webhook: {
    url: string;
    state: 'waiting' | 'pending' | 'sending' | 'delivered' | 'failed';
    attempts: number;
    last_status: number | null;
    last_error: string | null;
  } | null;
  /** Failed chunks: their first and last row index and why. */
  errors: Array<{ chunk: number; first_row: number; last_row: number; error: string }>;
}

export const STUCK_MS = 5 * 60_000;
export const MAX_ATTEMPTS = 5;
const ALARM_EVERY_MS = 60_000;

type Row = Record<string, SqlStorageValue>;

export class JobCoordinator extends DurableObject<Env> {
  readonly #sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS job (
      id TEXT PRIMARY KEY, spec TEXT NOT NULL, cancelled INTEGER NOT NULL DEFAULT 0,
      started_at INTEGER, finished_at INTEGER)`);
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS chunk (
      n INTEGER PRIMARY KEY, rows INTEGER NOT NULL, first INTEGER NOT NULL, state TEXT NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL, counts TEXT, error TEXT)`);
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS webhook (
      url TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER,
      last_status INTEGER, last_error TEXT)`);
  }

  #spec(): JobSpec | undefined {
    const row = this.#sql.exec<Row>('SELECT spec FROM job').toArray()[0];
    return row === undefined ? undefined : (JSON.parse(String(row.spec)) as JobSpec);
  }

  /** Creates the job (its chunks queued) unless it exists; either way the stored spec. */
  async create(spec: JobSpec): Promise<{ created: boolean; spec: JobSpec }> {
    const existing = this.#spec();
    if (existing !== undefined) return { created: false, spec: existing };
    const now = Date.now();
    this.#sql.exec('INSERT INTO job (id, spec) VALUES (?, ?)', spec.id, JSON.stringify(spec));
    spec.chunks.forEach((c, n) => {
      this.#sql.exec(
        'INSERT INTO chunk (n, rows, first, state, updated_at) VALUES (?, ?, ?, ?, ?)',
        n,
        c.rows,
        c.first,
        'queued',
        now,
      );
    });
    if (typeof spec.webhook === 'string') {
      this.#sql.exec("INSERT INTO webhook (url, state) VALUES (?, 'waiting')", spec.webhook);
    }
    await this.ctx.storage.setAlarm(now + ALARM_EVERY_MS);
    return { created: true, spec };
  }

  /** The spec and the view in one call (the routes check ownership on the spec). */
  async describe(): Promise<{ spec: JobSpec; view: JobView } | undefined> {
    const spec = this.#spec();
    if (spec === undefined) return undefined;
    return { spec, view: (await this.view()) as JobView };
  }

  async view(): Promise<JobView | undefined> {
    const spec = this.#spec();
    if (spec === undefined) return undefined;
    const job = this.#sql.exec<Row>('SELECT cancelled, started_at, finished_at FROM job').one();
    const chunks = this.#sql
      .exec<Row>('SELECT n, rows, first, state, counts, error FROM chunk ORDER BY n')
      .toArray();
    const progress = {
      rows_done: 0,
      rows_total: spec.rows,
      chunks_done: 0,
      chunks_failed: 0,
      chunks_total: chunks.length,
    };
    const servedBy: Record<string, number> = {};
    const errors: JobView['errors'] = [];
    let running = 0;
    for (const c of chunks) {
      const rows = Number(c.rows);
      if (c.state === 'done') {
        progress.chunks_done++;
        progress.rows_done += rows;
        for (const [k, v] of Object.entries(JSON.parse(String(c.counts ?? '{}')) as Record<string, number>)) {
          servedBy[k] = (servedBy[k] ?? 0) + v;
        }
      } else if (c.state === 'failed') {
        progress.chunks_failed++;
        errors.push({
          chunk: Number(c.n),
          first_row: Number(c.first),
          last_row: Number(c.first) + rows - 1,
          error: String(c.error ?? 'failed'),
        });
      } else if (c.state === 'running') running++;
    }
    const finished = progress.chunks_done + progress.chunks_failed === progress.chunks_total;
    const status: JobState =
      Number(job.cancelled) === 1
        ? 'cancelled'
        : finished
          ? progress.chunks_failed === 0
            ? 'succeeded'
            : progress.chunks_done === 0
              ? 'failed'
              : 'partially_failed'
          : running > 0 || progress.chunks_done + progress.chunks_failed > 0
            ? 'running'
            : 'queued';
    const iso = (v: SqlStorageValue) => (v === null ? null : new Date(Number(v)).toISOString());
    const hook = this.#sql
      .exec<Row>('SELECT url, state, attempts, last_status, last_error FROM webhook')
      .toArray()[0];
    return {
      id: spec.id,
      model: spec.model,
      version: spec.version,
      owner: spec.owner_name,
      status,
      created_at: spec.created_at,
      started_at: iso(job.started_at as SqlStorageValue),
      finished_at: iso(job.finished_at as SqlStorageValue),
      progress,
      served_by: servedBy,
      webhook:
        hook === undefined
          ? null
          : {
              url: String(hook.url),
              state: hook.state as NonNullable<JobView['webhook']>['state'],
              attempts: Number(hook.attempts),
              last_status: hook.last_status === null ? null : Number(hook.last_status),
              last_error: hook.last_error === null ? null : String(hook.last_error),
            },
      errors,
    };
  }

  async chunks(): Promise<ChunkView[]> {
    return this.#sql
      .exec<Row>('SELECT n, state, rows, first, attempts, error FROM chunk ORDER BY n')
      .toArray()
      .map((c) => ({
        chunk: Number(c.n),
        state: c.state as ChunkState,
        rows: Number(c.rows),
        first: Number(c.first),
        attempts: Number(c.attempts),
        error: c.error === null ? null : String(c.error),
      }));
  }

  /**
   * Whether a delivery of chunk `n` should run it: not when the job is unknown or cancelled, not when the chunk is
   * done or failed, not when another delivery runs it (started less than STUCK_MS ago). A yes marks it running.
   */
  async claim(
    n: number,
  ): Promise<{ run: false; why: string } | { run: true; spec: JobSpec; attempt: number }> {
    const spec = this.#spec();
    if (spec === undefined) return { run: false, why: 'unknown job' };
    const job = this.#sql.exec<Row>('SELECT cancelled FROM job').one();
    if (Number(job.cancelled) === 1) return { run: false, why: 'cancelled' };
    const chunk = this.#sql
      .exec<Row>('SELECT state, attempts, updated_at FROM chunk WHERE n = ?', n)
      .toArray()[0];
    if (chunk === undefined) return { run: false, why: 'unknown chunk' };
    const now = Date.now();
    if (chunk.state === 'done' || chunk.state === 'failed') return { run: false, why: String(chunk.state) };
    if (chunk.state === 'running' && now - Number(chunk.updated_at) < STUCK_MS)
      return { run: false, why: 'running' };
    const attempt = Number(chunk.attempts) + 1;
    this.#sql.exec(
      "UPDATE chunk SET state = 'running', attempts = ?, updated_at = ? WHERE n = ?",
      attempt,
      now,
      n,
    );
    this.#sql.exec('UPDATE job SET started_at = COALESCE(started_at, ?)', now);
    return { run: true, spec, attempt };
  }

  /** Chunk `n`'s results are stored: done, with its counts by served_by (once: a second call changes nothing). */
  async complete(n: number, counts: Record<string, number>): Promise<void> {
    const changed = this.#sql.exec(
      "UPDATE chunk SET state = 'done', counts = ?, error = NULL, updated_at = ? WHERE n = ? AND state != 'done'",
      JSON.stringify(counts),
      Date.now(),
      n,
    ).rowsWritten;
    if (changed > 0) this.#finishIfDone();
  }

  /** A delivery that failed and will be retried: back to queued, the error kept for the status. */
  async release(n: number, error: string): Promise<void> {
    this.#sql.exec(
      "UPDATE chunk SET state = 'queued', error = ?, updated_at = ? WHERE n = ? AND state = 'running'",
      error.slice(0, 500),
      Date.now(),
      n,
    );
  }

  /** The chunk cannot succeed (dead-lettered, refused, or out of attempts): failed, with why. */
  async fail(n: number, error: string): Promise<void> {
    const changed = this.#sql.exec(
      "UPDATE chunk SET state = 'failed', error = ?, updated_at = ? WHERE n = ? AND state NOT IN ('done', 'failed')",
      error.slice(0, 500),
      Date.now(),
      n,
    ).rowsWritten;
    if (changed > 0) this.#finishIfDone();
  }

  async cancel(): Promise<JobView | undefined> {
    if (this.#spec() === undefined) return undefined;
    this.#sql.exec('UPDATE job SET cancelled = 1, finished_at = COALESCE(finished_at, ?)', Date.now());
    return this.view();
  }

  #finishIfDone(): void {
    const open = this.#sql
      .exec<Row>("SELECT COUNT(*) AS n FROM chunk WHERE state IN ('queued', 'running')")
      .one();
    if (Number(open.n) > 0) return;
    const now = Date.now();
    this.#sql.exec('UPDATE job SET finished_at = COALESCE(finished_at, ?)', now);
    // The completion webhook goes out from the alarm (never on the consumer's path), now.
    const armed = this.#sql.exec(
      "UPDATE webhook SET state = 'pending', next_at = ? WHERE state = 'waiting'",
      now,
    );
    if (armed.rowsWritten > 0) void this.ctx.storage.setAlarm(now);
  }

  /**
   * Delivers the completion webhook if one is due at `now`: signed with the owner's webhook secret; on failure the
   * next attempt is scheduled (backoff), after WEBHOOK_MAX_ATTEMPTS it is given up. Returns the state after.
   */
  async deliverDueWebhook(now: number, fetcher: typeof fetch = fetch): Promise<string | undefined> {
    const hook = this.#sql.exec<Row>('SELECT url, state, attempts, next_at FROM webhook').toArray()[0];
    const due = (hook?.state === 'pending' || hook?.state === 'sending') && Number(hook.next_at) <= now;
    if (hook === undefined || !due) return hook?.state as string | undefined;
    // Leased before the first await: an alarm and a direct call never deliver the same attempt twice; a lease whose
    // holder died expires after twice the timeout.
    this.#sql.exec("UPDATE webhook SET state = 'sending', next_at = ?", now + 2 * WEBHOOK_TIMEOUT_MS);
    const spec = this.#spec() as JobSpec;
    const secret = this.env.WEBHOOK_SIGNING_SECRET ?? '';
    const view = await this.view();
    const result =
      secret.length < 16
        ? { status: 0, error: 'WEBHOOK_SIGNING_SECRET is not set on this edge' }
        : await deliverWebhook(
            String(hook.url),
            await webhookSecretFor(secret, spec.owner),
            { event: 'job.finished', job: view },
            fetcher,
          );
    const attempts = Number(hook.attempts) + 1;
    const state =
      result.error === null ? 'delivered' : attempts >= WEBHOOK_MAX_ATTEMPTS ? 'failed' : 'pending';
    const next = state === 'pending' ? now + webhookBackoffMs(attempts) : null;
    this.#sql.exec(
      'UPDATE webhook SET state = ?, attempts = ?, next_at = ?, last_status = ?, last_error = ?',
      state,
      attempts,
      next,
      result.status === 0 ? null : result.status,
      result.error,
    );
    if (next !== null) await this.ctx.storage.setAlarm(next);
    return state;
  }

  /** Every minute while the job is open: chunks queued or running for longer than STUCK_MS are sent again. */
  override async alarm(): Promise<void> {
    const spec = this.#spec();
    if (spec === undefined) return;
    await this.deliverDueWebhook(Date.now());
    const job = this.#sql.exec<Row>('SELECT cancelled, finished_at FROM job').one();
    if (Number(job.cancelled) === 1 || job.finished_at !== null) return;
    await this.requeueStuck(Date.now());
    await this.ctx.storage.setAlarm(Date.now() + ALARM_EVERY_MS);
  }

  /** Sends again the chunks not updated since `now - STUCK_MS`; fails those out of attempts. Returns what it did. */
  async requeueStuck(
    now: number,
    queue: Pick<Queue, 'sendBatch'> = this.env.JOBS_QUEUE,
  ): Promise<{ requeued: number[]; failed: number[] }> {
    const stuck = this.#sql
      .exec<Row>(
        "SELECT n, attempts FROM chunk WHERE state IN ('queued', 'running') AND updated_at <= ? ORDER BY n",
        now - STUCK_MS,
      )
      .toArray();
    const requeued: number[] = [];
    const failed: number[] = [];
    for (const c of stuck) {
      const n = Number(c.n);
      if (Number(c.attempts) >= MAX_ATTEMPTS) {
        await this.fail(n, `no result after ${MAX_ATTEMPTS} attempts (stuck)`);
        failed.push(n);
        continue;
      }
      this.#sql.exec("UPDATE chunk SET state = 'queued', updated_at = ? WHERE n = ?", now, n);
      requeued.push(n);
    }
    const spec = this.#spec() as JobSpec;
    for (let i = 0; i < requeued.length; i += 100) {
      await queue.sendBatch(
        requeued.slice(i, i + 100).map((n) => ({ body: { job: spec.id, chunk: n } satisfies ChunkMessage })),
      );
    }
    return { requeued, failed };
  }
}
