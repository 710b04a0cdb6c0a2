/**
 * `npm run rollout -- <command> [--model spam] [...] [--url <edge> --key <admin key>]`: the rollout of a model at a
 * running edge (the admin API, edge/src/routes/rollout.ts), as a readable table. Without --url/--key it asks the
 * stack `npm start` is running.
 *
 *   status                                  the policy and, per version, traffic, shadow and audit agreement
 *   shadow --candidate V [--weight 0.1]     the candidate runs beside stable on a share of requests, off-path
 *   canary --candidate V --weight 0.1       the candidate answers that share, sticky per API key
 *   ab --candidate V [--weight 0.5]         the same, for an A-B comparison
 *   audit --rate 0.05                       a share of confident edge answers is re-checked by the origin
 *   promote                                 the candidate becomes stable
 *   rollback                                back to stable only; right after a promote, undoes it
 */
import { type EdgeComponents, unwrap } from '../client/src/index.ts';
import { adminClient, arg, renderTable, unwrapJson } from './admin-client.ts';

type Schemas = EdgeComponents['schemas'];
/** What the status shows: the GET's RolloutState, or the RolloutChanged a change answers (it has no `stored`). */
type PolicyAnswer = Schemas['RolloutChanged'] & { stored?: boolean };

const COMMANDS = ['status', 'shadow', 'canary', 'ab', 'audit', 'promote', 'rollback'] as const;
type Command = (typeof COMMANDS)[number];

const pct = (x: number | null | undefined) =>
  x === null || x === undefined ? '-' : `${(100 * x).toFixed(1)}%`;

/** The PUT body a policy-changing command sends, based on the current policy (its revision included). */
export function nextPolicy(
  command: 'shadow' | 'canary' | 'ab' | 'audit',
  current: Schemas['RolloutPolicy'],
  argv: readonly string[],
): Schemas['RolloutPolicyUpdate'] & { revision: number } {
  const {
    model: _m,
    revision,
    updated_at: _a,
    updated_by: _b,
    reason: _r,
    promoted_from: _p,
    ...fields
  } = current;
  const number = (name: string, fallback: number) => {
    const v = arg(name, argv);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`--${name} must be a number, got ${v}`);
    return n;
  };
  if (command === 'audit') return { ...fields, audit_rate: number('rate', current.audit_rate), revision };
  const candidate = arg('candidate', argv) ?? current.candidate;
  if (candidate === null || candidate === undefined)
    throw new Error(`${command} needs --candidate <version>`);
  const weight = number('weight', command === 'ab' ? 0.5 : command === 'shadow' ? 0.1 : current.weight);
  return { ...fields, candidate, mode: command, weight, revision };
}

/** The status table: the policy's fields, then per version its traffic and rollout comparisons. */
export function statusLines(
  answer: PolicyAnswer,
  versions: ReadonlyArray<
    Pick<Schemas['VersionStats'], 'version' | 'requests' | 'items' | 'shadow' | 'audit'>
  >,
): string[] {
  const p = answer.policy;
  const g = p.guardrails;
  const head = [
    `${p.model}: rollout revision ${p.revision}${answer.stored === false ? ' (default: none stored)' : ''}, by ${p.updated_by} at ${p.updated_at}${p.reason === undefined ? '' : ` (${p.reason})`}`,
    `stable ${p.stable}, candidate ${p.candidate ?? '-'}, mode ${p.mode}, weight ${pct(p.weight)}, stickiness ${p.stickiness}, audit ${pct(p.audit_rate)}`,
    `guardrails: min ${g.min_samples} samples, error rate <= ${pct(g.max_error_rate)}, p95 <= ${g.max_p95_ms} ms, disagreement <= ${pct(g.max_disagreement)}`,
    `embedded at the edge: ${answer.versions.join(', ')}`,
    ...(p.promoted_from === undefined
      ? []
      : [`promoted from ${p.promoted_from}: rollback now makes ${p.promoted_from} stable again`]),
  ];
  const rows = versions.map((v) => [
    v.version,
    v.version === p.stable ? 'stable' : v.version === p.candidate ? 'candidate' : '',
    String(v.requests),
    String(v.items),
    String(v.shadow.samples),
    pct(v.shadow.agreement),
    String(v.audit.samples),
    pct(v.audit.agreement),
  ]);
  const table = renderTable(
    ['version', 'role', 'requests', 'items', 'shadow n', 'shadow agree', 'audit n', 'audit agree'],
    rows,
  );
  return [...head, ...table, ...(rows.length === 0 ? ['(no traffic counted yet)'] : [])];
}

async function main(): Promise<void> {
  const command = process.argv[2] as Command | undefined;
  if (command === undefined || !COMMANDS.includes(command)) {
    throw new Error(
      `usage: npm run rollout -- ${COMMANDS.join('|')} [--model spam] [--candidate V] [--weight W]`,
    );
  }
  const edge = adminClient();
  const params = { path: { model: arg('model') ?? 'spam' } };
  const current = unwrap(await edge.GET('/v1/admin/models/{model}/rollout', { params }));
  let answer: PolicyAnswer = current;
  if (command === 'promote' || command === 'rollback') {
    answer = unwrap(await edge.POST(`/v1/admin/models/{model}/rollout/${command}`, { params }));
  } else if (command !== 'status') {
    const body = nextPolicy(command, current.policy, process.argv);
    answer = unwrap(await edge.PUT('/v1/admin/models/{model}/rollout', { params, body }));
  }
  const stats = unwrapJson(
    await edge.GET('/v1/admin/models/{model}/stats', { params: { ...params, query: { minutes: 60 } } }),
  );
  for (const line of statusLines(answer, stats.versions)) console.log(line);
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    console.error((err as Error).message);
    process.exitCode = 1;
  });
}
