/**
 * The reviewer API (keys with the `reviewer` scope, or `admin`; 403 otherwise):
 *
 *   GET  /v1/review?model=spam[&state=pending|labelled][&cursor=N][&limit=50]   a page of items, oldest first, and
 *                                                                              the queue's counters (bound, sampled out)
 *   GET  /v1/review/export?model=spam                                          labelled items as NDJSON training data
 *   GET  /v1/review/{id}                                                       one item and its label history
 *   POST /v1/review/next?model=spam                                            the next item, leased to the caller
 *   POST /v1/review/{id}  {"label": "spam"}                                    records a label (idempotent; 409 when
 *                                                                              another reviewer holds the lease)
 *   DELETE /v1/review/{id}/label                                               takes the caller's label back (undo)
 *   POST /v1/review/{id}/decide  {"label": "spam"}                             an admin's final label (disputes)
 *
 * The export's lines are `{"key": "review/<id>", "text", "label", ...}`, which `npm run train -- --extra <file>`
 * takes as extra training data (split by key like the corpus, so no item crosses from test into training).
 */
import type { Context } from 'hono';
import { InferenceError, InvalidInputError } from '../../../shared/errors/index.ts';
import { readJson, requireJson } from '../routes/request.ts';
import type { AppEnv } from '../types.ts';
import { type LabelOutcome, MAX_PAGE, type ReviewItem, type ReviewQueue } from './queue.ts';

const ITEM_ID = /^rv_[0-9a-f]{32}$/;
const MODEL = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** The one review queue (a Durable Object), or 503 when the binding is missing. */
export function reviewQueue(env: Env): DurableObjectStub<ReviewQueue> {
  const ns = env.REVIEW;
  if (ns === undefined)
    throw new InferenceError('unavailable', 'the review queue is not configured on this edge');
  return ns.get(ns.idFromName('review'));
}

function requireReviewer(c: Context<AppEnv>): string {
  const p = c.get('principal');
  if (!p.scopes.includes('reviewer') && !p.scopes.includes('admin')) {
    throw new InferenceError('forbidden', 'this API key has no reviewer scope');
  }
  return p.name;
}

function modelQuery(c: Context<AppEnv>): string {
  const model = c.req.query('model');
  if (model === undefined || !MODEL.test(model))
    throw new InvalidInputError('model: expected ?model=<model name>');
  return model;
}

export function reviewListHandler() {
  return async function listReview(c: Context<AppEnv>): Promise<Response> {
    requireReviewer(c);
    const model = modelQuery(c);
    const state = c.req.query('state') ?? 'pending';
    if (state !== 'pending' && state !== 'labelled' && state !== 'disputed')
      throw new InvalidInputError('state: expected pending, labelled or disputed');
    const cursor = c.req.query('cursor') ?? '0';
    const limit = c.req.query('limit') ?? '50';
    if (!/^\d{1,12}$/.test(cursor))
      throw new InvalidInputError('cursor: expected the cursor of the previous page');
    if (!/^\d{1,3}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_PAGE) {
      throw new InvalidInputError(`limit: expected 1 to ${MAX_PAGE}`);
    }
    const queue = reviewQueue(c.env);
    const [page, counters] = await Promise.all([
      queue.list(model, state, Number(cursor), Number(limit)),
      queue.counters(model),
    ]);
    return c.json({
      model,
      state,
      ...page,
      cursor: page.cursor === null ? null : String(page.cursor),
      queue: { max_pending: c.get('config').reviewMaxPending, ...counters },
    });
  };
}

async function itemOf(c: Context<AppEnv>): Promise<ReviewItem> {
  const id = c.req.param('id') as string;
  if (!ITEM_ID.test(id))
    throw new InferenceError('not_found', `no review item ${JSON.stringify(id.slice(0, 80))}`);
  const item = await reviewQueue(c.env).get(id);
  if (item === undefined) throw new InferenceError('not_found', `no review item ${id}`);
  return item;
}

/** The item of the path and the label of the JSON body `{"label"}`: one of the item's labels (400 otherwise). */
async function labelOf(c: Context<AppEnv>): Promise<{ item: ReviewItem; label: string }> {
  requireJson(c);
  const body = await readJson(c);
  const item = await itemOf(c);
  const label = (body as { label?: unknown } | null)?.label;
  if (typeof label !== 'string' || !item.labels.includes(label)) {
    throw new InvalidInputError(`label: expected one of ${item.labels.join(', ')}`);
  }
  return { item, label };
}

export function reviewItemHandler() {
  return async function reviewItem(c: Context<AppEnv>): Promise<Response> {
    requireReviewer(c);
    const item = await itemOf(c);
    return c.json({ ...item, history: await reviewQueue(c.env).history(item.id) });
  };
}

export function reviewLabelHandler() {
  return async function labelItem(c: Context<AppEnv>): Promise<Response> {
    const by = requireReviewer(c);
    const { item, label } = await labelOf(c);
    c.get('log').items = 1;
    return c.json(outcome(await reviewQueue(c.env).label(item.id, label, by)));
  };
}

/** An outcome of the queue as the answer: the item, or 404 / 409 saying why not. */
function outcome(o: LabelOutcome): ReviewItem {
  if (o.kind === 'ok') return o.item;
  if (o.kind === 'missing') throw new InferenceError('not_found', 'no such review item');
  if (o.kind === 'leased') {
    throw new InferenceError(
      'conflict',
      `this item is on another reviewer's screen (${o.leased_by}) until ${o.lease_until}: take the next one`,
    );
  }
  throw new InferenceError('conflict', 'you have not labelled this item: there is nothing of yours to undo');
}

/** The lease a reviewer's `next` item comes with (REVIEW_LEASE_SECONDS). */
function leaseMs(c: Context<AppEnv>): number {
  return c.get('config').reviewLeaseSeconds * 1000;
}

export function reviewNextHandler() {
  return async function nextItem(c: Context<AppEnv>): Promise<Response> {
    const by = requireReviewer(c);
    const model = modelQuery(c);
    const after = c.req.query('after');
    if (after !== undefined && !ITEM_ID.test(after)) {
      throw new InvalidInputError(`after must be a review item id (rv_ and 32 hex digits)`);
    }
    const item = await reviewQueue(c.env).next(model, by, leaseMs(c), Date.now(), after);
    return c.json({ model, item: item ?? null });
  };
}

export function reviewUndoHandler() {
  return async function undoLabel(c: Context<AppEnv>): Promise<Response> {
    const by = requireReviewer(c);
    const item = await itemOf(c);
    return c.json(outcome(await reviewQueue(c.env).unlabel(item.id, by)));
  };
}

export function reviewDecideHandler() {
  return async function decide(c: Context<AppEnv>): Promise<Response> {
    const p = c.get('principal');
    if (!p.scopes.includes('admin'))
      throw new InferenceError('forbidden', 'only an admin key decides a label');
    const { item, label } = await labelOf(c);
    return c.json(outcome(await reviewQueue(c.env).decide(item.id, label, p.name)));
  };
}

export function reviewExportHandler() {
  return async function exportReview(c: Context<AppEnv>): Promise<Response> {
    requireReviewer(c);
    const model = modelQuery(c);
    const queue = reviewQueue(c.env);
    const encoder = new TextEncoder();
    let cursor: number | null = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (cursor === null) {
          controller.close();
          return;
        }
        const page = await queue.list(model, 'labelled', cursor, MAX_PAGE);
        cursor = page.cursor;
        const lines = page.items.map((i) =>
          JSON.stringify({
            key: `review/${i.id}`,
            text: i.text,
            label: i.label,
            model: i.model,
            version: i.version,
            reason: i.reason,
            labelled_by: i.labelled_by,
            labelled_at: i.labelled_at,
          }),
        );
        if (lines.length > 0) controller.enqueue(encoder.encode(`${lines.join('\n')}\n`));
        if (cursor === null) controller.close();
      },
    });
    return new Response(body, { headers: { 'content-type': 'application/x-ndjson' } });
  };
}
