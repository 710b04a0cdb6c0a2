/**
 * `npm run drift [-- --minutes 60] [-- --url <edge> --key <admin key>]`: the edge's traffic and drift counters per
 * model version (GET /v1/admin/models/{model}/stats) as a small table: requests, items, who answered, escalation
 * reasons, label mix, out-of-distribution answers and PSI against the release's validation baseline (flagged above
 * shared/drift PSI_ALERT). Without --url/--key it reads the stack `npm start` is running (.wrangler/local-stack.json).
 */
import type { EdgeComponents } from '../client/src/index.ts';
import { PSI_ALERT } from '../shared/drift/index.ts';
import { adminClient, arg, renderTable, unwrapJson } from './admin-client.ts';

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
      EdgeComponents['schemas']['VersionStats'],
      | 'version'
      | 'requests'
      | 'items'
      | 'served_by_share'
      | 'escalation_reasons'
      | 'labels'
      | 'ood'
      | 'unsure'
      | 'psi'
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
    String(v.unsure),
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
    'unsure',
    'psi score',
    'psi cov',
    'labels',
    'escalations',
  ];
  return [
    `${model}: the last ${minutes} minute(s) at the edge (PSI against the release's validation baseline; (!) above ${PSI_ALERT} over ${PSI_MIN_ITEMS}+ items)`,
    ...renderTable(head, rows),
    ...(rows.length === 0 ? ['(no traffic counted yet)'] : []),
  ];
}

async function main(): Promise<void> {
  const model = arg('model') ?? 'spam';
  const minutes = arg('minutes') ?? '60';
  const body = unwrapJson(
    await adminClient().GET('/v1/admin/models/{model}/stats', {
      params: { path: { model }, query: { minutes: Number(minutes) } },
    }),
  );
  for (const line of driftTable(model, Number(minutes), body.versions)) console.log(line);
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    console.error((err as Error).message);
    process.exitCode = 1;
  });
}
