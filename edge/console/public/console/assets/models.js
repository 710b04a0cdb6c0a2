// @ts-check
/**
 * Models: per model, the versions served (embedded in the bundle / published in the R2 registry / loaded here),
 * the rollout policy (stable, candidate, mode, weight) with the admin API's actions (shadow, canary weight,
 * promote, roll back) behind a confirmation that names what will change, and per version charts over the last
 * hour or day from GET /v1/admin/models/{m}/stats?points=: requests, edge share vs plan, escalation reasons, score
 * histogram, PSI, latency p50/p95, candidate agreement (shadow/audit) and errors. Refreshes every 15 s.
 */
import { barChart, clearCharts, timeChart } from './charts.js';
import {
  api,
  confirmChange,
  dataTable,
  errorState,
  fmtInt,
  fmtPct,
  getJson,
  h,
  modelFromUrl,
  modelPicker,
  select,
  show,
  state,
  viewRoot,
} from './console.js';

const WINDOWS = /** @type {const} */ ({ 'Last hour': [60, 30], 'Last day': [1440, 48] });
/** @typedef {keyof typeof WINDOWS} WindowName */

const { root, models } = viewRoot();
let model = modelFromUrl(models, models.includes('spam') ? 'spam' : (models[0] ?? ''));
/** @type {WindowName} */
let windowName = 'Last hour';
/** @type {string | null} */
let chosenVersion = null;
/** @type {any} */
let rollout = null;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let timer;
/** Bumped by every refresh: an answer for an earlier model or window is dropped, not drawn. */
let generation = 0;

const policyBox = h(
  'section',
  { 'aria-label': 'Rollout policy' },
  state('loading', 'Loading the rollout policy…'),
);
const message = h('div', { class: 'message' });
const statsBox = h('section', { 'aria-label': 'Traffic and drift' }, state('loading', 'Loading statistics…'));

/** @param {any} p */
function policyLine(p) {
  if (p.candidate === null || p.mode === 'off') return `stable ${p.stable}; no candidate`;
  return `stable ${p.stable}; candidate ${p.candidate} in ${p.mode} at ${fmtPct(p.weight)}`;
}

async function loadPolicy() {
  const mine = generation;
  try {
    const answer = await getJson(`/v1/admin/models/${encodeURIComponent(model)}/rollout`);
    if (mine !== generation) return;
    rollout = answer;
    renderPolicy();
  } catch (err) {
    if (mine !== generation) return;
    delete policyBox.dataset.shown;
    policyBox.replaceChildren(h('h2', null, 'Rollout'), errorState(err));
  }
}

function renderPolicy() {
  const p = rollout.policy;
  // The periodic refresh must not wipe a change being typed: the form is rebuilt only when the policy changed.
  const shown = `${model}@${p.revision}`;
  if (policyBox.dataset.shown === shown) return;
  policyBox.dataset.shown = shown;
  /** @type {string[]} */
  const versions = rollout.versions;
  const others = versions.filter((v) => v !== p.stable);
  const candidate = /** @type {HTMLSelectElement} */ (
    h(
      'select',
      { id: 'candidate' },
      others.map((v) => h('option', { value: v, selected: v === p.candidate }, v)),
    )
  );
  const mode = /** @type {HTMLSelectElement} */ (
    h(
      'select',
      { id: 'mode' },
      ['shadow', 'canary', 'ab', 'off'].map((m) => h('option', { value: m, selected: m === p.mode }, m)),
    )
  );
  const weight = /** @type {HTMLInputElement} */ (
    h('input', {
      id: 'weight',
      type: 'number',
      min: 0,
      max: 100,
      step: 1,
      value: Math.round(p.weight * 100),
      inputmode: 'numeric',
    })
  );
  const sticky = /** @type {HTMLSelectElement} */ (
    h(
      'select',
      { id: 'stickiness' },
      ['key', 'request'].map((m) => h('option', { value: m, selected: m === p.stickiness }, m)),
    )
  );
  const reason = /** @type {HTMLInputElement} */ (
    h('input', { id: 'reason', type: 'text', maxlength: 500, placeholder: 'why (kept with the policy)' })
  );
  const form = h(
    'form',
    { class: 'policy-form' },
    h('span', { class: 'field' }, h('label', { for: 'candidate' }, 'Candidate'), candidate),
    h('span', { class: 'field' }, h('label', { for: 'mode' }, 'Mode'), mode),
    h('span', { class: 'field' }, h('label', { for: 'weight' }, 'Weight %'), weight),
    h('span', { class: 'field' }, h('label', { for: 'stickiness' }, 'Sticky per'), sticky),
    h('span', { class: 'field wide' }, h('label', { for: 'reason' }, 'Reason'), reason),
    h('button', { type: 'submit' }, 'Apply…'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const w = Number(weight.value);
    if (!Number.isFinite(w) || w < 0 || w > 100) {
      message.replaceChildren(state('error', 'Weight must be a number from 0 to 100.'));
      return;
    }
    void applyPolicy(candidate.value || null, mode.value, w / 100, sticky.value, reason.value);
  });
  policyBox.replaceChildren(
    h('h2', null, 'Rollout'),
    h('p', { 'data-testid': 'policy' }, policyLine(p)),
    h(
      'p',
      { class: 'muted' },
      `Revision ${p.revision}${rollout.stored ? '' : ' (the default: nothing stored)'}; last change ${p.updated_at} by ${p.updated_by}` +
        (p.reason ? ` (${p.reason})` : '') +
        `; audit ${fmtPct(p.audit_rate)}; guardrails: ${fmtInt(p.guardrails.min_samples)} samples, errors ≤ ${fmtPct(p.guardrails.max_error_rate)}, ` +
        `p95 ≤ ${p.guardrails.max_p95_ms} ms, disagreement ≤ ${fmtPct(p.guardrails.max_disagreement)}.`,
    ),
    others.length === 0 ? state('empty', 'Only one version is served: nothing to roll out.') : form,
    h(
      'div',
      { class: 'actions' },
      h(
        'button',
        { type: 'button', class: 'secondary', disabled: p.candidate === null, onclick: () => void promote() },
        'Promote candidate…',
      ),
      h(
        'button',
        {
          type: 'button',
          class: 'danger',
          disabled: p.candidate === null && !p.promoted_from,
          onclick: () => void rollback(),
        },
        'Roll back…',
      ),
    ),
  );
}

/**
 * @param {string | null} candidate @param {string} mode @param {number} weight @param {string} stickiness
 * @param {string} reason
 */
async function applyPolicy(candidate, mode, weight, stickiness, reason) {
  const p = rollout.policy;
  const next = {
    stable: p.stable,
    candidate: mode === 'off' ? null : candidate,
    mode,
    weight: mode === 'off' ? 0 : weight,
    stickiness,
  };
  /** @type {string[]} */
  const changes = [];
  if (next.candidate !== p.candidate)
    changes.push(`candidate: ${p.candidate ?? 'none'} → ${next.candidate ?? 'none'}`);
  if (next.mode !== p.mode) changes.push(`mode: ${p.mode} → ${next.mode}`);
  if (next.weight !== p.weight) changes.push(`weight: ${fmtPct(p.weight)} → ${fmtPct(next.weight)}`);
  if (next.stickiness !== p.stickiness) changes.push(`sticky per ${p.stickiness} → per ${next.stickiness}`);
  if (changes.length === 0) {
    message.replaceChildren(state('empty', 'Nothing to change: that is the policy in force.'));
    return;
  }
  changes.push(`stable stays ${p.stable}; every PoP follows within ${Math.round(rollout.ttl_ms / 1000)} s`);
  if (!(await confirmChange(`Change the rollout of ${model}`, changes, 'Apply the change'))) return;
  try {
    await api(`/v1/admin/models/${encodeURIComponent(model)}/rollout`, {
      method: 'PUT',
      body: {
        ...next,
        audit_rate: p.audit_rate,
        guardrails: p.guardrails,
        revision: p.revision,
        ...(reason === '' ? {} : { reason }),
      },
    });
    message.replaceChildren(h('p', { role: 'status' }, `Applied: ${changes.slice(0, -1).join('; ')}.`));
  } catch (err) {
    message.replaceChildren(errorState(err));
  }
  await refresh();
}

async function promote() {
  const p = rollout.policy;
  const ok = await confirmChange(
    `Promote ${p.candidate} to stable`,
    [
      `stable: ${p.stable} → ${p.candidate}`,
      'the candidate is cleared (mode off)',
      `a rollback restores ${p.stable}`,
    ],
    'Promote',
  );
  if (!ok) return;
  await action('promote', `Promoted ${p.candidate}.`);
}

async function rollback() {
  const p = rollout.policy;
  const ok = await confirmChange(
    `Roll back ${model}`,
    [
      p.promoted_from
        ? `stable: ${p.stable} → ${p.promoted_from} (before the last promote)`
        : `stable stays ${p.stable}`,
      `candidate ${p.candidate ?? 'none'} is dropped: every request gets the stable version`,
    ],
    'Roll back',
  );
  if (!ok) return;
  await action('rollback', 'Rolled back.');
}

/** @param {'promote' | 'rollback'} name @param {string} done */
async function action(name, done) {
  try {
    await api(`/v1/admin/models/${encodeURIComponent(model)}/rollout/${name}`, { method: 'POST' });
    message.replaceChildren(h('p', { role: 'status' }, done));
  } catch (err) {
    message.replaceChildren(errorState(err));
  }
  await refresh();
}

/** @param {Record<string, number>} counts */
const sum = (counts) => Object.values(counts).reduce((a, b) => a + b, 0);

async function loadStats() {
  const [minutes, points] = WINDOWS[windowName];
  const mine = generation;
  try {
    const stats = await getJson(
      `/v1/admin/models/${encodeURIComponent(model)}/stats?minutes=${minutes}&points=${points}`,
    );
    if (mine !== generation) return;
    renderStats(stats);
  } catch (err) {
    if (mine !== generation) return;
    clearCharts();
    statsBox.replaceChildren(h('h2', null, 'Traffic'), errorState(err));
  }
}

/** @param {any} stats */
function renderStats(stats) {
  clearCharts();
  /** @type {any[]} */
  const versions = stats.versions;
  const sources = h(
    'p',
    { class: 'muted' },
    `Embedded: ${stats.sources.embedded.join(', ') || 'none'} · registry published: ${stats.sources.registry_published.join(', ') || 'none'} · loaded here: ${stats.sources.registry_loaded.join(', ') || 'none'}`,
  );
  const windowSelect = select('Window', Object.keys(WINDOWS), windowName, (w) => {
    windowName = /** @type {WindowName} */ (w);
    generation++;
    void loadStats();
  });
  if (versions.length === 0) {
    statsBox.replaceChildren(
      h('h2', null, 'Traffic'),
      sources,
      windowSelect,
      state(
        'empty',
        `No traffic counted for ${model} in the ${windowName.toLowerCase()}: no statistics yet.`,
      ),
    );
    return;
  }
  const names = versions.map((v) => v.version);
  const p = rollout?.policy;
  if (chosenVersion === null || !names.includes(chosenVersion)) {
    chosenVersion =
      p?.candidate !== null && names.includes(p?.candidate)
        ? p.candidate
        : names.includes(p?.stable)
          ? p.stable
          : names[0];
  }
  const v = versions.find((x) => x.version === chosenVersion);
  const table = dataTable({
    caption: `Per version, ${windowName.toLowerCase()}`,
    columns: [
      'Version',
      'Source',
      'Requests',
      'Items',
      'Edge share (plan)',
      'p95',
      'Agreement',
      'PSI',
      'Errors',
    ],
    rows: versions.map((x) =>
      h(
        'tr',
        { 'data-version': x.version },
        h('th', { scope: 'row' }, x.version),
        h('td', null, x.source ?? '–'),
        h('td', { 'data-testid': 'requests' }, fmtInt(x.requests)),
        h('td', null, fmtInt(x.items)),
        h('td', null, `${fmtPct(x.model_edge_share)} (${fmtPct(x.expected_edge_share)})`),
        h('td', null, x.latency_ms.p95 === null ? '–' : `${x.latency_ms.p95} ms`),
        h('td', null, fmtPct(x.shadow.agreement ?? x.audit.agreement)),
        h('td', null, x.psi.score === null ? '–' : x.psi.score.toFixed(3)),
        h(
          'td',
          null,
          `${fmtInt(x.errors.failed_requests)} failed, ${fmtInt(x.errors.degraded_items)} degraded`,
        ),
      ),
    ),
    attrs: { 'data-testid': 'version-table' },
  });
  /** @type {any[]} */
  const pts = v.series?.points ?? [];
  const xs = pts.map((q) => Math.floor(Date.parse(q.start) / 1000));
  const col = (/** @type {(q: any) => number | null} */ f) => pts.map(f);
  const reasons = [...new Set(pts.flatMap((q) => Object.keys(q.escalation_reasons)))];
  const charts = h(
    'div',
    { class: 'charts' },
    timeChart(`Requests · ${v.version}`, xs, [
      { label: 'requests', values: col((q) => q.requests) },
      { label: 'items', values: col((q) => q.items) },
    ]),
    timeChart(
      `Edge share vs plan · ${v.version}`,
      xs,
      [
        { label: 'edge share', values: col((q) => q.model_edge_share) },
        { label: 'plan', values: col(() => v.expected_edge_share), dash: true },
      ],
      { percent: true },
    ),
    timeChart(
      `Escalation reasons · ${v.version}`,
      xs,
      reasons.length === 0
        ? [{ label: 'escalated', values: col(() => 0) }]
        : reasons.map((r) => ({ label: r, values: col((q) => q.escalation_reasons[r] ?? 0) })),
    ),
    barChart(
      `Score histogram · ${v.version}`,
      v.score_histogram.map((/** @type {number} */ _n, /** @type {number} */ i) => `${i / 10}`),
      [{ label: 'items', values: v.score_histogram }],
    ),
    timeChart(`PSI (score) · ${v.version}`, xs, [{ label: 'PSI', values: col((q) => q.psi_score) }]),
    timeChart(
      `Latency · ${v.version}`,
      xs,
      [
        { label: 'p50', values: col((q) => q.latency_p50) },
        { label: 'p95', values: col((q) => q.latency_p95) },
      ],
      { unit: ' ms' },
    ),
    timeChart(
      `Candidate agreement · ${v.version}`,
      xs,
      [
        { label: 'shadow', values: col((q) => q.shadow_agreement) },
        { label: 'audit', values: col((q) => q.audit_agreement) },
      ],
      { percent: true },
    ),
    timeChart(`Errors · ${v.version}`, xs, [
      { label: 'failed requests', values: col((q) => q.failed_requests) },
      { label: 'degraded items', values: col((q) => q.degraded_items) },
    ]),
  );
  statsBox.replaceChildren(
    h('h2', null, 'Traffic'),
    sources,
    h(
      'div',
      { class: 'toolbar' },
      windowSelect,
      select('Version', names, chosenVersion ?? '', (x) => {
        chosenVersion = x;
        renderStats(stats);
      }),
    ),
    table,
    h(
      'p',
      { class: 'muted', 'data-testid': 'totals' },
      `${fmtInt(sum(v.served_by))} items answered by ${v.version}: ` +
        Object.entries(v.served_by)
          .map(([k, n]) => `${k} ${fmtInt(/** @type {number} */ (n))}`)
          .join(', '),
    ),
    charts,
  );
}

async function refresh() {
  clearTimeout(timer);
  generation++;
  await loadPolicy();
  await loadStats();
  timer = setTimeout(() => void refresh(), 15_000);
}

if (models.length === 0) {
  show(root, state('empty', 'This key may use no model the edge serves.'));
} else {
  show(
    root,
    h(
      'div',
      { class: 'toolbar' },
      modelPicker(models, model, (m) => {
        model = m;
        chosenVersion = null;
        void refresh();
      }),
      h('button', { type: 'button', class: 'secondary', onclick: () => void refresh() }, 'Refresh'),
    ),
    message,
    policyBox,
    statsBox,
  );
  void refresh();
}
