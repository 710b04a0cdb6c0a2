// @ts-check
/**
 * Small charts on uPlot (its own minified build, served from vendor/ as the global `uPlot`): time series with one
 * line per series, and bar histograms. Each chart is a <figure> with a caption and a text summary for screen
 * readers; nulls are gaps. Charts follow their container's width.
 */
import { h } from './console.js';

/** @typedef {{label: string, values: (number | null)[], dash?: boolean}} Line */

const COLOURS = ['#0b5cad', '#d1242f', '#1a7f37', '#8250df', '#bc4c00', '#0a7d8c', '#7d4e00', '#57606a'];

/** @returns {any} */
function uPlotGlobal() {
  return /** @type {any} */ (globalThis).uPlot;
}

/** @type {Set<{chart: any, box: HTMLElement}>} */
const live = new Set();
addEventListener('resize', () => {
  for (const { chart, box } of live) chart.setSize({ width: widthOf(box), height: 180 });
});

/** @param {HTMLElement} box */
function widthOf(box) {
  return Math.max(240, Math.min(box.clientWidth || 320, 720));
}

/**
 * @param {string} title
 * @param {string} summary a sentence that says what the chart shows (for screen readers and without script)
 * @param {(box: HTMLElement) => any} draw
 */
function figure(title, summary, draw) {
  const box = h('div', { class: 'chart-box' });
  const fig = h(
    'figure',
    { class: 'chart', 'data-chart': title },
    h('figcaption', null, title),
    box,
    h('p', { class: 'sr-only' }, summary),
  );
  queueMicrotask(() => {
    if (uPlotGlobal() === undefined) {
      box.replaceChildren(h('p', { class: 'muted' }, summary));
      return;
    }
    live.add({ chart: draw(box), box });
  });
  return fig;
}

/** Drops the charts of a view that is redrawn (their canvases go with their figures). */
export function clearCharts() {
  for (const { chart } of live) chart.destroy();
  live.clear();
}

/**
 * A time series chart: x = unix seconds, one line per series.
 * @param {string} title
 * @param {number[]} xs
 * @param {Line[]} lines
 * @param {{unit?: string, percent?: boolean}} [options]
 */
export function timeChart(title, xs, lines, options = {}) {
  const fmt = (/** @type {number | null} */ v) =>
    v === null || v === undefined
      ? '–'
      : options.percent
        ? `${(v * 100).toFixed(1)}%`
        : `${+v.toFixed(2)}${options.unit ?? ''}`;
  const last = lines.map((l) => `${l.label} ${fmt([...l.values].reverse().find((v) => v !== null) ?? null)}`);
  const summary = `${title}, ${xs.length} points; latest: ${last.join(', ') || 'no data'}.`;
  return figure(title, summary, (box) => {
    const U = uPlotGlobal();
    return new U(
      {
        width: widthOf(box),
        height: 180,
        series: [
          {},
          ...lines.map((l, i) => ({
            label: l.label,
            stroke: COLOURS[i % COLOURS.length],
            width: 2,
            dash: l.dash === true ? [6, 4] : undefined,
            spanGaps: false,
            // Points too: a bucket alone between gaps (sparse traffic) has no line to show it.
            points: { show: true, size: 4 },
            value: (/** @type {unknown} */ _u, /** @type {number | null} */ v) => fmt(v),
          })),
        ],
        axes: [
          {},
          {
            values: (/** @type {unknown} */ _u, /** @type {number[]} */ ticks) => ticks.map((t) => fmt(t)),
            size: 60,
          },
        ],
        scales: { x: { time: true } },
      },
      [xs, ...lines.map((l) => l.values)],
      box,
    );
  });
}

/**
 * A bar histogram over labelled bins (one or more series side by side).
 * @param {string} title
 * @param {string[]} bins
 * @param {Line[]} series
 */
export function barChart(title, bins, series) {
  const summary = `${title}: ${series.map((s) => `${s.label} ${s.values.join(' / ')}`).join('; ')} over bins ${bins.join(', ')}.`;
  return figure(title, summary, (box) => {
    const U = uPlotGlobal();
    const bars = U.paths.bars({ size: [0.8 / Math.max(1, series.length), 64], align: 0 });
    return new U(
      {
        width: widthOf(box),
        height: 180,
        series: [
          { value: (/** @type {unknown} */ _u, /** @type {number} */ i) => bins[i] ?? '' },
          ...series.map((s, i) => ({
            label: s.label,
            fill: `${COLOURS[i % COLOURS.length]}99`,
            stroke: COLOURS[i % COLOURS.length],
            paths: bars,
            points: { show: false },
          })),
        ],
        axes: [
          {
            values: (/** @type {unknown} */ _u, /** @type {number[]} */ ticks) =>
              ticks.map((t) => bins[t] ?? ''),
          },
          { size: 50 },
        ],
        scales: { x: { time: false, range: [-0.5, bins.length - 0.5] } },
      },
      [bins.map((_, i) => i), ...series.map((s) => s.values)],
      box,
    );
  });
}
