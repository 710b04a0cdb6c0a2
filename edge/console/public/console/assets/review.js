// @ts-check
/**
 * Review: one queued item at a time, leased to this reviewer (POST /v1/review/next), labelled with one key press
 * through the reviewer API (POST /v1/review/{id}; the audit trail is the API's). Keys: 1..9 label, j skip to the
 * next item, k back to the previous one, u undo the last label. The item's text is shown as text (textContent),
 * never as HTML. Admins also see the disputed items (two reviewers disagreed) and decide them.
 */
import {
  api,
  confirmChange,
  errorState,
  fmtInt,
  fmtPct,
  fmtTime,
  getJson,
  h,
  modelFromUrl,
  modelPicker,
  saveFile,
  show,
  state,
  typing,
  viewRoot,
} from './console.js';

/**
 * @typedef {{label: string, score: number}} Answer
 * @typedef {{by: string, label: string, at: string}} Vote
 * @typedef {{id: string, model: string, version: string, labels: string[], text: string, reason: string,
 *   answer: Answer & {served_by: string}, student: Answer | null, created_at: string, seen: number,
 *   label: string | null, labelled_by: string | null, status: string, votes_needed: number, votes: Vote[],
 *   leased_by: string | null, lease_until: string | null}} Item
 */

const { root, models, scopes } = viewRoot();
const isAdmin = scopes.includes('admin');
let model = models[0] ?? '';
/** @type {Item | null} */
let current = null;
/** Items shown, in order (j/k move along it); `pos` is the one on screen. @type {string[]} */
const history = [];
let pos = -1;
/** Ids this reviewer labelled, last last (u undoes the last). @type {string[]} */
const labelledByMe = [];
let labelledThisSession = 0;
let busy = false;

const summary = h(
  'section',
  { 'aria-label': 'Queue', class: 'summary' },
  state('loading', 'Loading the queue…'),
);
const card = h('section', { 'aria-label': 'Item to label', class: 'card', 'aria-live': 'polite' });
const message = h('div', { class: 'message' });
const exportLine = h('p', { class: 'muted', role: 'status' });
const disputed = h('section', { 'aria-label': 'Disputed items' });

async function loadSummary() {
  try {
    const page = await getJson(`/v1/review?model=${encodeURIComponent(model)}&state=pending&limit=1`);
    const q = page.queue;
    const double = q.double_agreed + q.double_disputed;
    show(
      summary,
      h(
        'p',
        { class: 'counts' },
        h('strong', { 'data-testid': 'pending' }, `${fmtInt(page.pending)} pending`),
        ` · ${fmtInt(q.labelled)} labelled · `,
        h('span', { 'data-testid': 'session-count' }, `${labelledThisSession} by you this session`),
      ),
      h(
        'p',
        { class: 'muted' },
        double === 0
          ? 'No item labelled twice yet.'
          : `Labelled twice: ${fmtInt(q.double_agreed)} agreed, ${fmtInt(q.double_disputed)} disputed ` +
              `(agreement ${fmtPct(q.double_agreed / double)}).`,
        ` Queue bound ${fmtInt(q.max_pending)}: received ${fmtInt(q.received)}, folded ${fmtInt(q.folded)}, ` +
          `sampled out ${fmtInt(q.rejected + q.evicted)}, expired ${fmtInt(q.expired)}.`,
      ),
    );
  } catch (err) {
    show(summary, errorState(err));
  }
}

/** @param {Item} item */
function renderItem(item) {
  const labelButtons = item.labels.slice(0, 9).map((label, i) =>
    h(
      'button',
      {
        type: 'button',
        class: item.label === label ? 'label chosen' : 'label',
        onclick: () => void labelWith(label),
        'aria-keyshortcuts': String(i + 1),
      },
      h('kbd', null, String(i + 1)),
      ` ${label}`,
    ),
  );
  const status =
    item.label !== null
      ? `Labelled ${item.label} by ${item.labelled_by ?? '?'}`
      : item.status === 'disputed'
        ? 'Disputed: waiting for an admin’s decision'
        : item.votes.length > 0
          ? `${item.votes.length} of ${item.votes_needed} labels given`
          : 'Waiting for a label';
  card.replaceChildren(
    h(
      'article',
      { 'data-item': item.id },
      h(
        'p',
        { class: 'muted' },
        `Item ${pos + 1} · ${item.reason.replace(/_/g, ' ')} · seen ${fmtInt(item.seen)}× · queued ${fmtTime(item.created_at)}`,
      ),
      h('pre', { class: 'item-text', tabindex: 0, 'aria-label': 'Item text' }, item.text),
      h(
        'dl',
        { class: 'answers' },
        h('dt', null, 'Answered'),
        h(
          'dd',
          null,
          `${item.answer.label} (${item.answer.score.toFixed(3)}) by ${item.answer.served_by}, ${item.version}`,
        ),
        h('dt', null, 'Student'),
        h(
          'dd',
          null,
          item.student === null ? 'did not run' : `${item.student.label} (${item.student.score.toFixed(3)})`,
        ),
        h('dt', null, 'State'),
        h('dd', { 'data-testid': 'item-state' }, status),
      ),
      h('div', { class: 'labels', role: 'group', 'aria-label': 'Label' }, labelButtons),
      h(
        'div',
        { class: 'nav-keys' },
        h(
          'button',
          { type: 'button', class: 'secondary', onclick: () => void previous() },
          h('kbd', null, 'k'),
          ' Previous',
        ),
        h(
          'button',
          { type: 'button', class: 'secondary', onclick: () => void skip() },
          h('kbd', null, 'j'),
          ' Skip',
        ),
        h(
          'button',
          {
            type: 'button',
            class: 'secondary',
            onclick: () => void undo(),
            disabled: labelledByMe.length === 0,
          },
          h('kbd', null, 'u'),
          ' Undo last label',
        ),
      ),
    ),
  );
}

function renderDone() {
  card.replaceChildren(
    state(
      'empty',
      `Nothing left to label for ${model}: every queued item is labelled, or on another reviewer’s screen.`,
    ),
    ...(labelledByMe.length === 0
      ? []
      : [
          h(
            'button',
            { type: 'button', class: 'secondary', onclick: () => void undo() },
            h('kbd', null, 'u'),
            ' Undo last label',
          ),
        ]),
  );
}

/** @param {Item | null} item */
function present(item) {
  current = item;
  message.replaceChildren();
  if (item === null) renderDone();
  else renderItem(item);
  if (!performance.getEntriesByName('review-first-render').length) performance.mark('review-first-render');
}

/** @param {() => Promise<void>} work */
async function guarded(work) {
  if (busy) return;
  busy = true;
  try {
    await work();
  } catch (err) {
    message.replaceChildren(errorState(err));
  } finally {
    busy = false;
  }
}

/** The next item for this reviewer (after `after` when skipping). @param {string} [after] */
async function fetchNext(after) {
  const query = `model=${encodeURIComponent(model)}${after === undefined ? '' : `&after=${after}`}`;
  const { item } = await getJson(`/v1/review/next?${query}`, { method: 'POST' });
  if (item !== null) {
    history.splice(pos + 1);
    history.push(item.id);
    pos = history.length - 1;
  }
  present(item);
}

/** @param {string} label */
function labelWith(label) {
  return guarded(async () => {
    if (current === null) return;
    const id = current.id;
    await api(`/v1/review/${id}`, { method: 'POST', body: { label } });
    labelledByMe.push(id);
    labelledThisSession++;
    await fetchNext(id);
    void loadSummary();
  });
}

function skip() {
  return guarded(async () => {
    if (pos < history.length - 1) {
      pos++;
      present(await getJson(`/v1/review/${history[pos]}`));
    } else await fetchNext(current?.id);
  });
}

function previous() {
  return guarded(async () => {
    if (pos <= 0) return;
    pos--;
    present(await getJson(`/v1/review/${history[pos]}`));
  });
}

function undo() {
  return guarded(async () => {
    const id = labelledByMe.pop();
    if (id === undefined) return;
    const item = await getJson(`/v1/review/${id}/label`, { method: 'DELETE' });
    labelledThisSession = Math.max(0, labelledThisSession - 1);
    const at = history.indexOf(id);
    if (at >= 0) pos = at;
    else {
      history.push(id);
      pos = history.length - 1;
    }
    present(item);
    void loadSummary();
  });
}

async function exportLabelled() {
  try {
    const res = await api(`/v1/review/export?model=${encodeURIComponent(model)}`, {
      accept: 'application/x-ndjson',
    });
    const text = await res.text();
    const lines = text.split('\n').filter((l) => l !== '').length;
    saveFile(`review-${model}.ndjson`, new Blob([text], { type: 'application/x-ndjson' }));
    exportLine.replaceChildren(`Exported ${fmtInt(lines)} labelled items (review-${model}.ndjson).`);
  } catch (err) {
    exportLine.replaceChildren(errorState(err));
  }
}

async function loadDisputed() {
  if (!isAdmin) return;
  try {
    const page = await getJson(`/v1/review?model=${encodeURIComponent(model)}&state=disputed&limit=20`);
    /** @type {Item[]} */
    const items = page.items;
    disputed.replaceChildren(
      h('h2', null, 'Disputed'),
      items.length === 0
        ? state('empty', 'No disputed item: double-labelled items so far agree.')
        : h(
            'ul',
            { class: 'disputed' },
            items.map((item) =>
              h(
                'li',
                null,
                h('pre', { class: 'item-text' }, item.text),
                h('p', { class: 'muted' }, item.votes.map((v) => `${v.by}: ${v.label}`).join(' · ')),
                item.labels.map((label) =>
                  h(
                    'button',
                    { type: 'button', class: 'secondary', onclick: () => void decide(item, label) },
                    `Decide ${label}`,
                  ),
                ),
              ),
            ),
          ),
    );
  } catch (err) {
    disputed.replaceChildren(h('h2', null, 'Disputed'), errorState(err));
  }
}

/** @param {Item} item @param {string} label */
async function decide(item, label) {
  const ok = await confirmChange(
    'Decide a disputed item',
    [
      `Final label: ${label}`,
      `Votes were ${item.votes.map((v) => `${v.by}: ${v.label}`).join(', ')}`,
      'Training gets this label.',
    ],
    `Decide ${label}`,
  );
  if (!ok) return;
  await guarded(async () => {
    await api(`/v1/review/${item.id}/decide`, { method: 'POST', body: { label } });
    await loadDisputed();
  });
}

function start() {
  history.splice(0);
  pos = -1;
  card.replaceChildren(state('loading', 'Loading the next item…'));
  void loadSummary();
  void loadDisputed();
  void guarded(() => fetchNext());
}

document.addEventListener('keydown', (e) => {
  if (typing(e) || e.ctrlKey || e.metaKey || e.altKey || document.querySelector('dialog[open]') !== null)
    return;
  if (e.key >= '1' && e.key <= '9' && current !== null) {
    const label = current.labels[Number(e.key) - 1];
    if (label !== undefined) {
      e.preventDefault();
      void labelWith(label);
    }
  } else if (e.key === 'j') void skip();
  else if (e.key === 'k') void previous();
  else if (e.key === 'u') void undo();
});

/** Opens on the model with the most pending items (text models have a queue; others stay empty). */
async function busiestModel() {
  const asked = modelFromUrl(models, '');
  if (asked !== '') return asked;
  if (models.length < 2) return models[0] ?? '';
  const counts = await Promise.all(
    models.map((m) =>
      getJson(`/v1/review?model=${encodeURIComponent(m)}&state=pending&limit=1`).then(
        (p) => /** @type {number} */ (p.pending),
        () => 0,
      ),
    ),
  );
  let best = 0;
  for (let i = 1; i < models.length; i++) if ((counts[i] ?? 0) > (counts[best] ?? 0)) best = i;
  return models[best] ?? '';
}

if (models.length === 0) {
  show(root, state('empty', 'This key may use no model the edge serves: nothing to review.'));
} else {
  model = await busiestModel();
  show(
    root,
    h(
      'div',
      { class: 'toolbar' },
      modelPicker(models, model, (m) => {
        model = m;
        start();
      }),
      h(
        'button',
        { type: 'button', class: 'secondary', onclick: () => void exportLabelled() },
        'Export labelled set',
      ),
    ),
    exportLine,
    summary,
    message,
    card,
    h('p', { class: 'muted keys-help' }, 'Keys: 1–9 label · j skip · k previous · u undo the last label'),
    disputed,
  );
  start();
}
