// @ts-check
/**
 * Jobs: this key's batch jobs (GET /v1/jobs, every page) with their status and a progress bar, refreshed every
 * 2 s while any runs; results download (GET /v1/jobs/{id}/results, NDJSON) and cancel (DELETE, after a
 * confirmation that names the job).
 */
import {
  api,
  confirmChange,
  dataTable,
  errorState,
  fmtInt,
  fmtTime,
  getJson,
  h,
  saveFile,
  show,
  state,
  viewRoot,
} from './console.js';

/**
 * @typedef {{id: string, model: string, version: string | null, owner: string, status: string, created_at: string,
 *   finished_at: string | null, progress: {rows_done: number, rows_total: number, chunks_done: number,
 *   chunks_failed: number, chunks_total: number}}} Job
 */

const { root } = viewRoot();
const table = h('div', { class: 'jobs' }, state('loading', 'Loading jobs…'));
const message = h('div', { class: 'message' });
/** @type {ReturnType<typeof setTimeout> | undefined} */
let timer;

/** @returns {Promise<Job[]>} */
async function allJobs() {
  /** @type {Job[]} */
  const jobs = [];
  let cursor = null;
  for (let page = 0; page < 20; page++) {
    const q = cursor === null ? '' : `?cursor=${encodeURIComponent(cursor)}`;
    const body = await getJson(`/v1/jobs${q}`);
    jobs.push(...body.jobs);
    cursor = body.cursor;
    if (cursor === null) break;
  }
  return jobs.sort((a, b) => b.created_at.localeCompare(a.created_at));
}

/** @param {Job} job */
function row(job) {
  const p = job.progress;
  const pct = p.rows_total === 0 ? 0 : Math.round((p.rows_done / p.rows_total) * 100);
  const active = job.status === 'queued' || job.status === 'running';
  const finished = !active && job.status !== 'cancelled';
  return h(
    'tr',
    { 'data-job': job.id },
    h('td', null, h('code', null, job.id)),
    h('td', null, job.version === null ? job.model : `${job.model}@${job.version}`),
    h('td', null, h('span', { class: `badge badge-${job.status}` }, job.status.replace('_', ' '))),
    h(
      'td',
      { class: 'progress-cell' },
      h('progress', { max: 100, value: pct, 'aria-label': `Progress of ${job.id}` }),
      h('span', { class: 'muted' }, ` ${pct}% · ${fmtInt(p.rows_done)} / ${fmtInt(p.rows_total)} rows`),
      p.chunks_failed > 0 ? h('span', { class: 'error' }, ` · ${p.chunks_failed} chunks failed`) : null,
    ),
    h('td', null, fmtTime(job.created_at)),
    h(
      'td',
      { class: 'actions' },
      finished
        ? h('button', { type: 'button', class: 'secondary', onclick: () => void download(job) }, 'Results')
        : null,
      active
        ? h('button', { type: 'button', class: 'danger', onclick: () => void cancel(job) }, 'Cancel')
        : null,
    ),
  );
}

async function refresh() {
  clearTimeout(timer);
  try {
    const jobs = await allJobs();
    if (jobs.length === 0) {
      table.replaceChildren(
        state(
          'empty',
          'No job yet. Submit one with POST /v1/models/{model}/jobs (NDJSON, one text per line).',
        ),
      );
    } else {
      table.replaceChildren(
        dataTable({
          caption: `${jobs.length} jobs, newest first`,
          columns: ['Job', 'Model', 'Status', 'Progress', 'Created', 'Actions'],
          rows: jobs.map(row),
        }),
      );
    }
    if (jobs.some((j) => j.status === 'queued' || j.status === 'running')) timer = setTimeout(refresh, 2000);
  } catch (err) {
    table.replaceChildren(errorState(err));
  }
}

/** @param {Job} job */
async function download(job) {
  try {
    const res = await api(`/v1/jobs/${job.id}/results`, { accept: 'application/x-ndjson' });
    saveFile(`${job.id}.ndjson`, await res.blob());
    message.replaceChildren(h('p', { role: 'status' }, `Downloaded the results of ${job.id}.`));
  } catch (err) {
    message.replaceChildren(errorState(err));
  }
}

/** @param {Job} job */
async function cancel(job) {
  const ok = await confirmChange(
    'Cancel a job',
    [
      `Job ${job.id} (${job.model}) stops: ${fmtInt(job.progress.rows_total - job.progress.rows_done)} rows are not run.`,
      'Its inputs and results are deleted.',
    ],
    'Cancel the job',
  );
  if (!ok) return;
  try {
    await api(`/v1/jobs/${job.id}`, { method: 'DELETE' });
    message.replaceChildren(h('p', { role: 'status' }, `Cancelled ${job.id}.`));
  } catch (err) {
    message.replaceChildren(errorState(err));
  }
  await refresh();
}

show(
  root,
  h(
    'div',
    { class: 'toolbar' },
    h('button', { type: 'button', class: 'secondary', onclick: () => void refresh() }, 'Refresh'),
  ),
  message,
  table,
);
void refresh();
