/**
 * The cascade curve as a self-contained SVG (no fonts or scripts to fetch; deterministic text for a given input).
 * Left: edge share and cascade accuracy against the student-confidence threshold. Right: cascade accuracy against
 * edge share (the trade-off), with the teacher's and the student's accuracy as references.
 */
import type { CascadePoint } from './metrics.ts';

export interface CascadeChart {
  title: string;
  /** Test-split curve (drawn solid). */
  test: readonly CascadePoint[];
  /** Validation-split curve (drawn dashed): where the threshold was chosen. */
  validation: readonly CascadePoint[];
  threshold: number;
  teacherAcc: number;
  studentAcc: number;
}

const W = 880;
const H = 400;
const PANEL_W = 340;
const PANEL_H = 260;
const TOP = 70;
const LEFT = [70, 510];

const f = (v: number) => (Math.round(v * 100) / 100).toString();

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

interface Axis {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

function panel(left: number, ax: Axis, xLabel: string, yLabel: string, xTicks: number[], yTicks: number[], yFmt: (v: number) => string) {
  const sx = (x: number) => left + ((x - ax.x0) / (ax.x1 - ax.x0)) * PANEL_W;
  const sy = (y: number) => TOP + PANEL_H - ((y - ax.y0) / (ax.y1 - ax.y0)) * PANEL_H;
  const parts: string[] = [`<rect x="${left}" y="${TOP}" width="${PANEL_W}" height="${PANEL_H}" fill="#fff" stroke="#999"/>`];
  for (const t of xTicks) {
    parts.push(
      `<line x1="${f(sx(t))}" y1="${TOP}" x2="${f(sx(t))}" y2="${TOP + PANEL_H}" stroke="#eee"/>`,
      `<text x="${f(sx(t))}" y="${TOP + PANEL_H + 16}" text-anchor="middle">${t}</text>`,
    );
  }
  for (const t of yTicks) {
    parts.push(
      `<line x1="${left}" y1="${f(sy(t))}" x2="${left + PANEL_W}" y2="${f(sy(t))}" stroke="#eee"/>`,
      `<text x="${left - 6}" y="${f(sy(t) + 4)}" text-anchor="end">${yFmt(t)}</text>`,
    );
  }
  parts.push(
    `<text x="${left + PANEL_W / 2}" y="${TOP + PANEL_H + 36}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text transform="translate(${left - 52},${TOP + PANEL_H / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
  );
  const line = (pts: [number, number][], color: string, dash = '') =>
    `<polyline fill="none" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${pts
      .map(([x, y]) => `${f(sx(Math.min(ax.x1, Math.max(ax.x0, x))))},${f(sy(Math.min(ax.y1, Math.max(ax.y0, y))))}`)
      .join(' ')}"/>`;
  return { parts, sx, sy, line };
}

export function cascadeSvg(c: CascadeChart): string {
  const test = c.test.filter((p) => p.threshold <= 1);
  const val = c.validation.filter((p) => p.threshold <= 1);
  const minAcc = Math.min(c.studentAcc, c.teacherAcc, ...test.map((p) => p.cascade_acc), ...val.map((p) => p.cascade_acc));
  const yLo = Math.max(0, Math.floor((minAcc - 0.002) * 200) / 200);
  const accTicks: number[] = [];
  for (let v = yLo; v <= 1.00001; v += (1 - yLo) / 4) accTicks.push(Math.round(v * 1000) / 1000);
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

  // Left panel: threshold on x; accuracy on the left scale, edge share mapped onto the same box.
  const a = panel(LEFT[0] as number, { x0: 0.5, x1: 1, y0: yLo, y1: 1 }, 'student confidence threshold', 'accuracy (solid: test, dashed: validation)', [0.5, 0.6, 0.7, 0.8, 0.9, 1], accTicks, pct);
  const share = (s: number) => yLo + s * (1 - yLo);
  const left = [
    ...a.parts,
    a.line(test.map((p) => [p.threshold, p.cascade_acc]), '#1f77b4'),
    a.line(val.map((p) => [p.threshold, p.cascade_acc]), '#1f77b4', '5 4'),
    a.line(test.map((p) => [p.threshold, share(p.edge_share)]), '#ff7f0e'),
    a.line(val.map((p) => [p.threshold, share(p.edge_share)]), '#ff7f0e', '5 4'),
    a.line([[0.5, c.teacherAcc], [1, c.teacherAcc]], '#2ca02c', '2 3'),
    `<line x1="${f(a.sx(c.threshold))}" y1="${TOP}" x2="${f(a.sx(c.threshold))}" y2="${TOP + PANEL_H}" stroke="#d62728" stroke-width="1.5"/>`,
    `<text x="${f(a.sx(c.threshold) - 4)}" y="${TOP + 14}" text-anchor="end" fill="#d62728">threshold ${c.threshold}</text>`,
    `<text x="${(LEFT[0] as number) + PANEL_W + 6}" y="${TOP + 4}" fill="#ff7f0e">edge 100%</text>`,
    `<text x="${(LEFT[0] as number) + PANEL_W + 6}" y="${TOP + PANEL_H}" fill="#ff7f0e">edge 0%</text>`,
  ];

  // Right panel: edge share on x, cascade accuracy on y.
  const b = panel(LEFT[1] as number, { x0: 0, x1: 1, y0: yLo, y1: 1 }, 'share answered at the edge', 'cascade accuracy', [0, 0.25, 0.5, 0.75, 1], accTicks, pct);
  const chosen = test.find((p) => p.threshold === c.threshold);
  const right = [
    ...b.parts,
    b.line([[0, c.teacherAcc], [1, c.teacherAcc]], '#2ca02c', '2 3'),
    b.line([[0, c.studentAcc], [1, c.studentAcc]], '#9467bd', '2 3'),
    b.line(test.map((p) => [p.edge_share, p.cascade_acc]), '#1f77b4'),
    b.line(val.map((p) => [p.edge_share, p.cascade_acc]), '#1f77b4', '5 4'),
    chosen === undefined
      ? ''
      : `<circle cx="${f(b.sx(chosen.edge_share))}" cy="${f(b.sy(Math.max(yLo, chosen.cascade_acc)))}" r="5" fill="#d62728"/>`,
  ];

  const legend = [
    ['#1f77b4', 'cascade accuracy'],
    ['#ff7f0e', 'edge share'],
    ['#2ca02c', `teacher alone ${pct(c.teacherAcc)}`],
    ['#9467bd', `student alone ${pct(c.studentAcc)}`],
    ['#d62728', 'chosen threshold (on validation)'],
  ]
    .map(([color, label], i) => `<rect x="${70 + i * 165}" y="36" width="12" height="12" fill="${color}"/><text x="${86 + i * 165}" y="46">${esc(label as string)}</text>`)
    .join('');

  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fafafa"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(c.title)}</text>`,
    legend,
    ...left,
    ...right,
    '</svg>',
    '',
  ].join('\n');
}
