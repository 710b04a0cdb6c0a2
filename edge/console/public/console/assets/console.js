// @ts-check
/**
 * What every console view shares: the JSON API called with the session cookie (and the CSRF token on every
 * state-changing call), DOM built from text (never from HTML: review items are hostile by nature), the loading /
 * empty / error states, a confirmation dialog that names what will change, and small formatters.
 * Plain ES modules served as static assets (no build step); checked by tsc through edge/console/tsconfig.json.
 */

/** An API refusal: the shared error body `{error: {code, message, request_id}}` and the HTTP status. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   * @param {string | undefined} requestId
   */
  constructor(status, code, message, requestId) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.getAttribute('content') ?? '';
}

/**
 * Calls the API as the signed-in session. Non-2xx answers throw an ApiError.
 * @param {string} path
 * @param {{method?: string, body?: unknown, accept?: string}} [options]
 * @returns {Promise<Response>}
 */
export async function api(path, options = {}) {
  const method = options.method ?? 'GET';
  /** @type {Record<string, string>} */
  const headers = { accept: options.accept ?? 'application/json' };
  if (method !== 'GET' && method !== 'HEAD') headers['x-csrf-token'] = csrfToken();
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  } catch {
    throw new ApiError(
      0,
      'network',
      'The console could not reach the edge; check the connection.',
      undefined,
    );
  }
  if (res.ok) return res;
  /** @type {{error?: {code?: string, message?: string, request_id?: string}} | null} */
  const body = await res.json().catch(() => null);
  throw new ApiError(
    res.status,
    body?.error?.code ?? `http_${res.status}`,
    body?.error?.message ?? res.statusText,
    body?.error?.request_id,
  );
}

/**
 * @param {string} path
 * @param {{method?: string, body?: unknown}} [options]
 * @returns {Promise<any>}
 */
export async function getJson(path, options) {
  return (await api(path, options)).json();
}

/**
 * @typedef {string | number | Node | null | undefined | false} Child
 * @typedef {Record<string, string | number | boolean | null | undefined | EventListener>} Props
 */

/**
 * An element from a tag, attributes (`on…` are listeners) and children; strings become text nodes, never markup.
 * @param {string} tag
 * @param {Props | null} [props]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElement}
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === 'function') el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
  return el;
}

/**
 * Replaces a container's content.
 * @param {Element} container
 * @param {...(Child | Child[])} children
 */
export function show(container, ...children) {
  container.replaceChildren(h('div', null, ...children));
}

/**
 * A state line: loading and empty are polite status messages, an error an alert.
 * @param {'loading' | 'empty' | 'error'} kind
 * @param {string} text
 */
export function state(kind, text) {
  return h('p', { role: kind === 'error' ? 'alert' : 'status', class: `state state-${kind}` }, text);
}

/**
 * What to tell a person about a failed call: the cause in their terms, and the request id for a report.
 * @param {unknown} err
 * @returns {HTMLElement}
 */
export function errorState(err) {
  if (!(err instanceof ApiError)) return state('error', `Something failed in the page: ${String(err)}`);
  /** @type {Child} */
  let text = err.message;
  if (err.status === 401) {
    return h(
      'p',
      { role: 'alert', class: 'state state-error' },
      'Your session has ended. ',
      h('a', { href: '/console' }, 'Sign in again'),
      '.',
    );
  }
  if (err.status === 403) text = `This key may not do that: ${err.message}`;
  else if (err.code === 'unavailable')
    text = `A store the edge needs is not answering (${err.message}). Retry shortly.`;
  else if (err.status === 429) text = `Too many requests: ${err.message}`;
  return h(
    'p',
    { role: 'alert', class: 'state state-error' },
    text,
    err.requestId === undefined ? null : h('span', { class: 'muted' }, ` (request ${err.requestId})`),
  );
}

/**
 * Asks before a change: a modal dialog that names what will change. Resolves true on confirm.
 * @param {string} title
 * @param {string[]} lines
 * @param {string} confirmLabel
 * @returns {Promise<boolean>}
 */
export function confirmChange(title, lines, confirmLabel) {
  return new Promise((resolve) => {
    const confirm = h('button', { type: 'submit', value: 'yes', class: 'danger' }, confirmLabel);
    const dialog = /** @type {HTMLDialogElement} */ (
      h(
        'dialog',
        { 'aria-labelledby': 'confirm-title', class: 'confirm' },
        h(
          'form',
          { method: 'dialog' },
          h('h2', { id: 'confirm-title' }, title),
          h(
            'ul',
            null,
            lines.map((l) => h('li', null, l)),
          ),
          h(
            'div',
            { class: 'actions' },
            h('button', { type: 'submit', value: 'no', class: 'secondary' }, 'Cancel'),
            confirm,
          ),
        ),
      )
    );
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'yes');
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    confirm.focus();
  });
}

/** The view's root and what the server put on it (models this key may use, its scopes, its tenant). */
export function viewRoot() {
  const root = /** @type {HTMLElement} */ (document.getElementById('app'));
  const list = (/** @type {string | undefined} */ v) => (v === undefined || v === '' ? [] : v.split(','));
  return {
    root,
    models: list(root.dataset.models),
    scopes: list(root.dataset.scopes),
    tenant: root.dataset.tenant ?? '',
  };
}

/**
 * The view's model: `?model=` when this key may use it, else the fallback; `remember` puts a choice in the URL (a
 * reload or a shared link opens the same model).
 * @param {string[]} models
 * @param {string} fallback
 */
export function modelFromUrl(models, fallback) {
  const asked = new URLSearchParams(location.search).get('model');
  return asked !== null && models.includes(asked) ? asked : fallback;
}

/** @param {string} model */
export function rememberModel(model) {
  const url = new URL(location.href);
  url.searchParams.set('model', model);
  history.replaceState(null, '', url);
}

/**
 * A labelled select of models (or any options) that calls back on change.
 * @param {string} label
 * @param {string[]} options
 * @param {string} value
 * @param {(value: string) => void} onChange
 */
export function select(label, options, value, onChange) {
  const id = `select-${label.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  const el = /** @type {HTMLSelectElement} */ (
    h(
      'select',
      { id },
      options.map((o) => h('option', { value: o, selected: o === value }, o)),
    )
  );
  el.addEventListener('change', () => onChange(el.value));
  return h('span', { class: 'field' }, h('label', { for: id }, label), el);
}

/** @param {number | null | undefined} n */
export const fmtInt = (n) => (n === null || n === undefined ? '–' : n.toLocaleString('en'));
/** @param {number | null | undefined} x */
export const fmtPct = (x) => (x === null || x === undefined ? '–' : `${(x * 100).toFixed(1)}%`);
/** @param {string | null | undefined} iso */
export const fmtTime = (iso) =>
  iso === null || iso === undefined ? '–' : new Date(iso).toLocaleString('en-GB');

/**
 * Saves text as a file in the browser (a download, not a navigation).
 * @param {string} name
 * @param {Blob} blob
 */
export function saveFile(name, blob) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** True when a key press belongs to a form field (shortcuts leave typing alone). @param {KeyboardEvent} e */
export function typing(e) {
  const t = /** @type {HTMLElement | null} */ (e.target);
  return t !== null && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName));
}

/**
 * A table: column headings, body rows, an optional caption; wrapped so it scrolls sideways on a phone.
 * @param {{caption?: string, columns: string[], rows: Node[], attrs?: Props}} t
 */
export function dataTable(t) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      t.attrs ?? null,
      t.caption === undefined ? null : h('caption', { class: 'muted' }, t.caption),
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          t.columns.map((c) => h('th', { scope: 'col' }, c)),
        ),
      ),
      h('tbody', null, t.rows),
    ),
  );
}

/**
 * The model picker of a view: a select when the key may use several models (the choice goes in the URL), else
 * the model's name.
 * @param {string[]} models
 * @param {string} model
 * @param {(model: string) => void} onChange
 */
export function modelPicker(models, model, onChange) {
  if (models.length < 2) return h('p', null, `Model ${model}`);
  return select('Model', models, model, (m) => {
    rememberModel(m);
    onChange(m);
  });
}
