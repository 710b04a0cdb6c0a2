/**
 * `npm run drift [-- --minutes 60] [-- --url <edge> --key <admin key>]`: the edge's traffic and drift counters per
 * model version (GET /v1/admin/models/{model}/stats) as a small table: requests, items, who answered, escalation
 * reasons, label mix, out-of-distribution answers and PSI against the release's validation baseline (flagged above
 * shared/drift PSI_ALERT). Without --url/--key it reads the stack `npm start` is running (.wrangler/local-stack.json).
 */
import { existsSync, readFileSync } from 'node:fs';
import type { VersionStats } from '../edge/src/stats/report.ts';
import { PSI_ALERT } from '../shared/drift/index.ts';
import { LOCAL_STACK_FILE } from './stack.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const pct = (x: number | undefined) => `${(100 * (x ?? 0)).toFixed(1)}%`;
const mix = (r: Record<string, number>) =>
  Object.entries(r)
    .sort(([, a], [, b]) => b - a)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ') || '-';
/** Fewer items than this make PSI noise: it is shown, not flagged (the origin's alert asks for 200 answers). */
export const PSI_MIN_ITEMS = 100;

const psiText = (x: number | null, items: number) =>
  x === null
    ? '-'
    : `${x.toFixed(3)}${x <= PSI_ALERT ? '' : items >= PSI_MIN_ITEMS ? ' (!)' : ' (few items)'}`;

/** The table's lines for one model's stats. */
export function driftTable(
  model: string,
  minutes: number,
  versions: ReadonlyArray<
    { expected_edge_share?: number | null; model_edge_share?: number | null } & Pick<
      VersionStats,
      'version' | 'requests' | 'items' | 'served_by_share' | 'escalation_reasons' | 'labels' | 'ood' | 'psi'
    >
  >,
): string[] {
  const rows = versions.map((v) => [
    v.version,
    String(v.requests),
    String(v.items),
    pct(v.served_by_share.edge),
    v.model_edge_share === null || v.model_edge_share === undefined ? '-' : pct(v.model_edge_share),
    v.expected_edge_share === null || v.expected_edge_share === undefined ? '-' : pct(v.expected_edge_share),
    pct(v.served_by_share.origin),
    pct(v.served_by_share.cache),
    pct(v.served_by_share['edge-degraded']),
    String(v.ood),
    psiText(v.psi.score, v.items),
    psiText(v.psi.coverage, v.items),
    mix(v.labels),
    mix(v.escalation_reasons),
  ]);
  const head = [
    'version',
    'requests',
    'items',
    'edge',
    'edge (no cache)',
    'edge plan',
    'origin',
    'cache',
    'degraded',
    'ood',
    'psi score',
    'psi cov',
    'labels',
    'escalations',
  ];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  return [
    `${model}: the last ${minutes} minute(s) at the edge (PSI against the release's validation baseline; (!) above ${PSI_ALERT} over ${PSI_MIN_ITEMS}+ items)`,
    line(head),
    ...rows.map(line),
    ...(rows.length === 0 ? ['(no traffic counted yet)'] : []),
  ];
}

async function main(): Promise<void> {
  let url = arg('url');
  let key = arg('key');
  if ((url === undefined || key === undefined) && existsSync(LOCAL_STACK_FILE)) {
    const local = JSON.parse(readFileSync(LOCAL_STACK_FILE, 'utf8')) as { edgeUrl: string; adminKey: string };
    url ??= local.edgeUrl;
    key ??= local.adminKey;
  }
  if (url === undefined || key === undefined) {
    throw new Error(`no stack to ask: start one with npm start, or pass --url <edge> --key <admin key>`);
  }
  const model = arg('model') ?? 'spam';
  const minutes = arg('minutes') ?? '60';
  const res = await fetch(`${url}/v1/admin/models/${encodeURIComponent(model)}/stats?minutes=${minutes}`, {
    headers: { authorization: `Bearer ${key}` },
  });
  const body = (await res.json()) as {
    versions?: Array<VersionStats & { expected_edge_share: number | null; model_edge_share: number | null }>;
    error?: { code: string; message: string };
  };
  if (!res.ok || body.versions === undefined) {
    throw new Error(`edge answered ${res.status}: ${body.error?.code ?? ''} ${body.error?.message ?? ''}`);
  }
  for (const line of driftTable(model, Number(minutes), body.versions)) console.log(line);
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    console.error((err as Error).message);
    process.exitCode = 1;
  });
}
