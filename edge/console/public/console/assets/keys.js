// @ts-check
/**
 * Keys & usage: a tenant's API keys (GET /v1/admin/keys) with create, rotate and revoke (the new secret shown once,
 * with a copy button: the edge stores only its hash), and the tenant's usage per day and model (GET /v1/usage) as
 * a chart and a table. A tenant admin sees its own tenant; an admin picks one.
 */
import { clearCharts, timeChart } from './charts.js';
import {
  api,
  confirmChange,
  dataTable,
  errorState,
  fmtInt,
  fmtTime,
  getJson,
  h,
  select,
  show,
  state,
  viewRoot,
} from './console.js';

/**
 * @typedef {{id: string, tenant: string, name: string, scopes: string[], models: string[] | null, start: string,
 *   created_at: string, expires_at: string | null, disabled: boolean, revoked: boolean, last_used?: string | null}} Key
 */

const { root, scopes, tenant: ownTenant } = viewRoot();
const isAdmin = scopes.includes('admin');
let tenant = ownTenant;
/** Bumped by every tenant switch: an answer for an earlier tenant is dropped, not drawn. */
let generation = 0;

const secretBox = h('div', { 'aria-live': 'polite' });
const message = h('div', { class: 'message' });
const keysBox = h('section', { 'aria-label': 'API keys' }, state('loading', 'Loading keys…'));
const usageBox = h('section', { 'aria-label': 'Usage' }, state('loading', 'Loading usage…'));

/** Shows a secret once, with a copy button. @param {string} what @param {string} secret */
function showSecret(what, secret) {
  const copied = h('span', { role: 'status', class: 'muted' });
  secretBox.replaceChildren(
    h(
      'div',
      { class: 'secret' },
      h('p', null, h('strong', null, what), ' Copy it now: it is shown this once and never again.'),
      h('code', { 'data-testid': 'secret' }, secret),
      h(
        'button',
        {
          type: 'button',
          onclick: () => {
            navigator.clipboard.writeText(secret).then(
              () => copied.replaceChildren(' Copied.'),
              () => copied.replaceChildren(' Copy failed: select the text and copy it.'),
            );
          },
        },
        'Copy',
      ),
      copied,
      h('button', { type: 'button', class: 'secondary', onclick: () => secretBox.replaceChildren() }, 'Done'),
    ),
  );
}

/** @param {Key} k */
function status(k) {
  if (k.revoked) return 'revoked';
  if (k.disabled) return 'disabled';
  if (k.expires_at !== null && Date.parse(k.expires_at) < Date.now()) return 'expired';
  return 'active';
}

async function loadKeys() {
  const mine = generation;
  try {
    /** @type {Key[]} */
    const keys = [];
    let cursor = null;
    for (let page = 0; page < 20; page++) {
      const body = await getJson(
        `/v1/admin/keys?tenant=${encodeURIComponent(tenant)}&limit=100${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
      );
      keys.push(...body.keys);
      cursor = body.cursor;
      if (cursor === null) break;
    }
    if (mine !== generation) return;
    keysBox.replaceChildren(
      h('h2', null, `Keys of ${tenant}`),
      createForm(),
      keys.length === 0
        ? state('empty', 'No key yet: create one above.')
        : dataTable({
            columns: ['Name', 'Key', 'Scopes', 'Status', 'Last used', 'Actions'],
            rows: keys.map((k) =>
              h(
                'tr',
                { 'data-key': k.id },
                h('th', { scope: 'row' }, k.name),
                h('td', null, h('code', null, `${k.start}…`), h('br'), h('span', { class: 'muted' }, k.id)),
                h('td', null, k.scopes.join(', ')),
                h('td', null, h('span', { class: `badge badge-${status(k)}` }, status(k))),
                h('td', null, fmtTime(k.last_used ?? null)),
                h(
                  'td',
                  { class: 'actions' },
                  k.revoked
                    ? null
                    : [
                        h(
                          'button',
                          { type: 'button', class: 'secondary', onclick: () => void rotate(k) },
                          'Rotate…',
                        ),
                        h(
                          'button',
                          { type: 'button', class: 'danger', onclick: () => void revoke(k) },
                          'Revoke…',
                        ),
                      ],
                ),
              ),
            ),
          }),
    );
  } catch (err) {
    if (mine !== generation) return;
    keysBox.replaceChildren(h('h2', null, 'Keys'), errorState(err));
  }
}

function createForm() {
  const name = /** @type {HTMLInputElement} */ (
    h('input', { id: 'key-name', type: 'text', required: true, maxlength: 128 })
  );
  const choices = ['infer', 'reviewer', 'tenant_admin', ...(isAdmin ? ['admin'] : [])];
  const boxes = choices.map(
    (s) =>
      /** @type {HTMLInputElement} */ (
        h('input', { type: 'checkbox', id: `scope-${s}`, value: s, checked: s === 'infer' })
      ),
  );
  const form = h(
    'form',
    { class: 'create-key' },
    h('span', { class: 'field wide' }, h('label', { for: 'key-name' }, 'New key name'), name),
    h(
      'fieldset',
      null,
      h('legend', null, 'Scopes'),
      boxes.map((b, i) => h('span', { class: 'check' }, b, h('label', { for: b.id }, choices[i] ?? ''))),
    ),
    h('button', { type: 'submit' }, 'Create key'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const picked = boxes.filter((b) => b.checked).map((b) => b.value);
    if (picked.length === 0) {
      message.replaceChildren(state('error', 'Pick at least one scope.'));
      return;
    }
    void create(name.value.trim(), picked);
  });
  return form;
}

/** @param {string} name @param {string[]} picked */
async function create(name, picked) {
  try {
    const created = await getJson('/v1/admin/keys', {
      method: 'POST',
      body: { tenant, name, scopes: picked },
    });
    showSecret(`New key “${created.record.name}” created.`, created.key);
    message.replaceChildren();
  } catch (err) {
    message.replaceChildren(errorState(err));
  }
  await loadKeys();
}

/** @param {Key} k */
async function rotate(k) {
  const ok = await confirmChange(
    `Rotate “${k.name}”`,
    [
      `A new secret for ${k.id}, shown once.`,
      'The old secret keeps working for the grace period (default 24 h), then ends.',
    ],
    'Rotate',
  );
  if (!ok) return;
  try {
    const rotated = await getJson(`/v1/admin/keys/${k.id}/rotate`, { method: 'POST', body: {} });
    showSecret(`“${k.name}” rotated.`, rotated.key);
  } catch (err) {
    message.replaceChildren(errorState(err));
  }
  await loadKeys();
}

/** @param {Key} k */
async function revoke(k) {
  const ok = await confirmChange(
    `Revoke “${k.name}”`,
    [`${k.id} (${k.start}…) stops working within about a second, everywhere.`, 'This cannot be undone.'],
    'Revoke for good',
  );
  if (!ok) return;
  try {
    await api(`/v1/admin/keys/${k.id}/revoke`, { method: 'POST' });
    message.replaceChildren(h('p', { role: 'status' }, `Revoked ${k.name}.`));
  } catch (err) {
    message.replaceChildren(errorState(err));
  }
  await loadKeys();
}

async function loadUsage() {
  const mine = generation;
  try {
    const usage = await getJson(`/v1/usage?tenant=${encodeURIComponent(tenant)}&group_by=day,model`);
    if (mine !== generation) return;
    clearCharts();
    /** @type {{day: string, model: string, requests: number, items: number, job_rows: number, served_by: Record<string, number>}[]} */
    const rows = usage.rows;
    // Every day of the range (a day without usage is a 0, not a gap), and the models (`-`: calls of no model).
    /** @type {string[]} */
    const days = [];
    for (
      let t = Date.parse(`${usage.from}T00:00:00Z`);
      t <= Date.parse(`${usage.to}T00:00:00Z`);
      t += 86_400_000
    ) {
      days.push(new Date(t).toISOString().slice(0, 10));
    }
    const models = [...new Set(rows.map((r) => r.model))].filter((m) => m !== '-').sort();
    const xs = days.map((d) => Math.floor(Date.parse(`${d}T00:00:00Z`) / 1000));
    const value = (/** @type {string} */ d, /** @type {string} */ m) => {
      const r = rows.find((x) => x.day === d && x.model === m);
      return r === undefined ? 0 : r.items + r.job_rows;
    };
    usageBox.replaceChildren(
      h('h2', null, `Usage of ${tenant}, ${usage.from} to ${usage.to}`),
      rows.length === 0
        ? state('empty', 'No usage in the last 7 days.')
        : h(
            'div',
            null,
            timeChart(
              'Items per day and model',
              xs,
              models.map((m) => ({ label: m, values: days.map((d) => value(d, m)) })),
            ),
            dataTable({
              columns: ['Day', 'Model', 'Requests', 'Items', 'Job rows', 'Edge', 'Origin', 'Cache'],
              rows: rows.map((r) =>
                h(
                  'tr',
                  null,
                  h('td', null, r.day),
                  h('td', null, r.model === '-' ? '(no model)' : r.model),
                  h('td', null, fmtInt(r.requests)),
                  h('td', null, fmtInt(r.items)),
                  h('td', null, fmtInt(r.job_rows)),
                  h('td', null, fmtInt(r.served_by.edge ?? 0)),
                  h('td', null, fmtInt(r.served_by.origin ?? 0)),
                  h('td', null, fmtInt(r.served_by.cache ?? 0)),
                ),
              ),
              attrs: { 'data-testid': 'usage-table' },
            }),
          ),
    );
  } catch (err) {
    if (mine !== generation) return;
    usageBox.replaceChildren(h('h2', null, 'Usage'), errorState(err));
  }
}

function load() {
  void loadKeys();
  void loadUsage();
}

async function start() {
  /** @type {HTMLElement | null} */
  let picker = null;
  if (isAdmin) {
    try {
      const page = await getJson('/v1/admin/tenants?limit=100');
      /** @type {string[]} */
      const ids = page.tenants.map((/** @type {{id: string}} */ t) => t.id);
      if (!ids.includes(tenant)) ids.unshift(tenant);
      picker = select('Tenant', ids, tenant, (t) => {
        tenant = t;
        generation++;
        secretBox.replaceChildren();
        load();
      });
    } catch (err) {
      message.replaceChildren(errorState(err));
    }
  }
  show(
    root,
    picker === null ? null : h('div', { class: 'toolbar' }, picker),
    secretBox,
    message,
    keysBox,
    usageBox,
  );
  load();
}

void start();
