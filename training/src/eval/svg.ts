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
  /** Teacher and student accuracy alone, on test and on validation. */
  teacherAcc: { test: number; validation: number };
  studentAcc: { test: number; validation: number };
}

const W = 900;
const H = 420;
const PANEL_W = 350;
const PANEL_H = 260;
const TOP = 90;
const LEFT = [80, 520];

const f = (v: number) => (Math.round(v * 100) / 100).toString();

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

interface Axis {
  y0: number;
  y1: number;
}

const X_TICKS = [0.5, 0.6, 0.7, 0.8, 0.9, 1];

/** One panel with the threshold (0.5 .. 1) on x. */
function panel(left: number, ax: Axis, yLabel: string, yTicks: number[], yFmt: (v: number) => string) {
  const sx = (x: number) => left + ((Math.min(1, Math.max(0.5, x)) - 0.5) / 0.5) * PANEL_W;
  const sy = (y: number) =>
    TOP + PANEL_H - ((Math.min(ax.y1, Math.max(ax.y0, y)) - ax.y0) / (ax.y1 - ax.y0)) * PANEL_H;
  const parts: string[] = [
    `<rect x="${left}" y="${TOP}" width="${PANEL_W}" height="${PANEL_H}" fill="#fff" stroke="#999"/>`,
  ];
  for (const t of X_TICKS) {
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
    `<text x="${left + PANEL_W / 2}" y="${TOP + PANEL_H + 36}" text-anchor="middle">student confidence threshold</text>`,
    `<text transform="translate(${left - 58},${TOP + PANEL_H / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
  );
  const line = (pts: [number, number][], color: string, dash = '') =>
    `<polyline fill="none" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${pts
      .map(([x, y]) => `${f(sx(x))},${f(sy(y))}`)
      .join(' ')}"/>`;
  return { parts, sx, sy, line };
}

export function cascadeSvg(c: CascadeChart): string {
  const test = c.test.filter((p) => p.threshold <= 1);
  const val = c.validation.filter((p) => p.threshold <= 1);
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  const marker = (sx: (x: number) => number) => [
    `<line x1="${f(sx(c.threshold))}" y1="${TOP}" x2="${f(sx(c.threshold))}" y2="${TOP + PANEL_H}" stroke="#d62728" stroke-width="1.5"/>`,
    `<text x="${f(sx(c.threshold) + 4)}" y="${TOP + PANEL_H - 8}" fill="#d62728">${c.threshold}</text>`,
  ];

  // Left: share answered at the edge.
  const a = panel(
    LEFT[0] as number,
    { y0: 0, y1: 1 },
    'share answered at the edge',
    [0, 0.25, 0.5, 0.75, 1],
    (v) => `${v * 100}%`,
  );
  const left = [
    ...a.parts,
    a.line(
      test.map((p) => [p.threshold, p.edge_share]),
      '#ff7f0e',
    ),
    a.line(
      val.map((p) => [p.threshold, p.edge_share]),
      '#ff7f0e',
      '5 4',
    ),
    ...marker(a.sx),
  ];

  // Right: accuracy of the cascade against both models alone.
  const accs = [
    c.teacherAcc.test,
    c.teacherAcc.validation,
    c.studentAcc.test,
    c.studentAcc.validation,
    ...test.map((p) => p.cascade_acc),
    ...val.map((p) => p.cascade_acc),
  ];
  const yLo = Math.max(0, Math.floor((Math.min(...accs) - 0.002) * 200) / 200);
  const yHi = Math.min(1, Math.ceil((Math.max(...accs) + 0.002) * 200) / 200);
  const ticks: number[] = [];
  for (let v = yLo; v <= yHi + 1e-9; v += 0.005) ticks.push(Math.round(v * 1000) / 1000);
  const b = panel(LEFT[1] as number, { y0: yLo, y1: yHi }, 'accuracy', ticks, pct);
  const flat = (v: number, color: string, dash: string) =>
    b.line(
      [
        [0.5, v],
        [1, v],
      ],
      color,
      dash,
    );
  const right = [
    ...b.parts,
    flat(c.teacherAcc.test, '#2ca02c', '2 3'),
    flat(c.teacherAcc.validation, '#2ca02c', '8 3 2 3'),
    flat(c.studentAcc.test, '#9467bd', '2 3'),
    b.line(
      test.map((p) => [p.threshold, p.cascade_acc]),
      '#1f77b4',
    ),
    b.line(
      val.map((p) => [p.threshold, p.cascade_acc]),
      '#1f77b4',
      '5 4',
    ),
    ...marker(b.sx),
  ];

  const legend = [
    ['#ff7f0e', 'edge share'],
    ['#1f77b4', 'cascade accuracy'],
    ['#2ca02c', `teacher alone: ${pct(c.teacherAcc.test)} test, ${pct(c.teacherAcc.validation)} validation`],
    ['#9467bd', `student alone: ${pct(c.studentAcc.test)} test`],
    ['#d62728', 'threshold chosen on validation'],
  ]
    .map(([color, label], i) => {
      const x = 80 + (i % 3) * 260;
      const y = 38 + Math.floor(i / 3) * 18;
      return `<rect x="${x}" y="${y}" width="12" height="12" fill="${color}"/><text x="${x + 16}" y="${y + 10}">${esc(label as string)}</text>`;
    })
    .join('');

  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fafafa"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(c.title)}</text>`,
    legend,
    `<text x="${W / 2}" y="${H - 12}" text-anchor="middle" fill="#555">solid: test split, dashed: validation split</text>`,
    ...left,
    ...right,
    '</svg>',
    '',
  ].join('\n');
}
