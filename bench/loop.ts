/**
 * npm run bench:loop: the learning loop measured end to end on a domain the corpus lacks (issue #25), with no step
 * by hand between labelling and promotion.
 *
 *  1. A stack (origin + bridge over Redis + edge in workerd) whose origin polls a local S3 stand-in for the R2
 *     registry; releases are built into a temporary registry root, so the committed models/ never sees the drill.
 *  2. Before: the held-out part of the drill (training/src/data/drill.ts: marketplace messages, never reviewed)
 *     through the edge: accuracy, ham FPR, share escalated.
 *  3. The labelled part through the edge: what no model is sure of is queued for review; a scripted reviewer labels
 *     the queued items it has the truth for (the held-out part is never labelled).
 *  4. npm run retrain's stages in process (training/src/loop/retrain.ts): export, build with the labels, gate
 *     against stable, publish (edge R2 + the origin's S3), shadow, canary, promote, while traffic flows (the corpus
 *     test split's messages with some drill texts between them, as a service sees a new domain arrive).
 *  5. After: the held-out part again, through the promoted release.
 *
 * The last line: {"bench":"loop", domain_acc_before/after, domain_ham_fpr_before/after, corpus_acc_before/after
 * (the gate's figures on the corpus test split), domain_escalated_before/after, manual_steps: 0, seconds per step,
 * the gate's verdict}. BENCH_SMOKE=1: smaller guardrail sample counts and traffic (the same code path).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unwrap } from '../client/src/index.ts';
import { createS3Client } from '../origin/src/registry-s3/client.ts';
import { type AdminTarget, adminClient } from '../scripts/admin-client.ts';
import { startStack } from '../scripts/stack.ts';
import { classify, labelReviewQueue, testMessages } from '../test/helpers.ts';
import { RELEASE_RECIPE } from '../training/src/config.ts';
import { LABELS } from '../training/src/data/corpus.ts';
import { type DrillText, drillSplit } from '../training/src/data/drill.ts';
import { type RetrainState, retrainOnce } from '../training/src/loop/retrain.ts';
import { MODELS_ROOT } from '../training/src/release/registry.ts';
import { log, result, round, sleep, smokeOr } from './lib.ts';

const BYPASS = { 'cache-control': 'no-cache, no-store' };
/** Guardrail sample counts: shadow comparisons before the canary, candidate requests before the promote. */
const MIN_SAMPLES = smokeOr(150, 40);
const POLICY_TTL_MS = 5000;
const LOOP_TIMEOUT_MS = smokeOr(20 * 60_000, 8 * 60_000);

type Pred = { label: string; served_by: string; escalation_reason?: string };

/** The drill texts through the edge, 16 per request: accuracy, ham FPR and share escalated. */
async function measure(edge: string, key: string, texts: readonly DrillText[]) {
  let right = 0;
  let ham = 0;
  let hamFp = 0;
  let escalated = 0;
  for (let i = 0; i < texts.length; i += 16) {
    const batch = texts.slice(i, i + 16);
    const r = await classify(
      edge,
      key,
      batch.map((t) => t.text),
      BYPASS,
    );
    if (r.status !== 200) throw new Error(`measure: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
    const preds = (r.body as { predictions: Pred[] }).predictions;
    preds.forEach((p, j) => {
      const truth = LABELS[(batch[j] as DrillText).label];
      if (p.label === truth) right++;
      if (truth === 'ham') {
        ham++;
        if (p.label === 'spam') hamFp++;
      }
      if (p.served_by === 'origin') escalated++;
    });
  }
  return {
    acc: round(right / texts.length, 4),
    ham_fpr: round(hamFp / Math.max(1, ham), 4),
    escalated: round(escalated / texts.length, 4),
  };
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const seconds: Record<string, number> = {};
  let mark = performance.now();
  const lap = (name: string) => {
    seconds[name] = round((performance.now() - mark) / 1000, 1);
    mark = performance.now();
  };
  const { labelled, heldOut } = drillSplit();
  const work = mkdtempSync(join(tmpdir(), 'bench-loop-'));
  const root = join(work, 'models');
  log(
    `bench:loop: drill ${labelled.length} labelled + ${heldOut.length} held out; temporary registry root ${root}`,
  );
  const stack = await startStack({
    sharedState: 'test',
    registry: { pollSeconds: 1 },
    originEnv: { MODEL_VERSION_POLICY: 'all' },
    keys: [
      { name: 'loop-admin', tier: 'bench', scopes: ['admin', 'infer'] },
      { name: 'loop-client', tier: 'bench' },
    ],
    edgeVars: { RATE_LIMIT_TIERS: JSON.stringify({ bench: { limit: 10_000_000, window: '60 s' } }) },
    ...(process.env.BENCH_LOG === '1'
      ? { log: (label: string, line: string) => console.error(`${label} ${line}`) }
      : {}),
  });
  try {
    lap('stack_start');
    const target: AdminTarget = { url: stack.edgeUrl, key: stack.apiKeys[0]?.key as string };
    const client = stack.apiKeys[1]?.key as string;
    const s3 = stack.s3;
    if (s3 === undefined) throw new Error('the stack has no S3 registry');
    // Per-request stickiness (every request may draw the canary) and guardrails sized for the run.
    const edge = adminClient(target);
    const params = { path: { model: 'spam' } };
    const { policy } = unwrap(await edge.GET('/v1/admin/models/{model}/rollout', { params }));
    const body = {
      stable: policy.stable,
      mode: 'off',
      stickiness: 'request',
      guardrails: { min_samples: MIN_SAMPLES, max_error_rate: 0.05, max_p95_ms: 5000, max_disagreement: 0.2 },
    } as const;
    unwrap(await edge.PUT('/v1/admin/models/{model}/rollout', { params, body }));
    await sleep(POLICY_TTL_MS + 500);
    const stable = policy.stable;

    const before = await measure(stack.edgeUrl, client, heldOut);
    log(`before (${stable}): held-out drill ${JSON.stringify(before)}`);
    lap('measure_before');

    // The labelled part through the stack: what no model is sure of reaches the review queue.
    for (let i = 0; i < labelled.length; i += 16) {
      await classify(
        stack.edgeUrl,
        client,
        labelled.slice(i, i + 16).map((t) => t.text),
        BYPASS,
      );
    }
    await sleep(1500); // the review submissions run in waitUntil
    lap('send_labelled');
    const truth = new Map(labelled.map((t) => [t.text, LABELS[t.label] as string]));
    const review = await labelReviewQueue(target, truth);
    log(`review: ${review.queued} items queued, ${review.labelled} labelled by the scripted reviewer`);
    lap('label');

    // The loop, in process: the same stages npm run retrain runs, with traffic while it waits on the rollout.
    const corpus = testMessages().map((m) => m.text);
    const mixed = [...corpus, ...labelled.map((t) => t.text)];
    let sent = 0;
    const traffic = async (n: number) => {
      for (let i = 0; i < n; i++, sent++) {
        await classify(stack.edgeUrl, client, [`${mixed[(sent * 7) % mixed.length]}`], BYPASS);
      }
    };
    const options = {
      model: 'spam',
      recipe: RELEASE_RECIPE,
      root,
      extraRoots: [MODELS_ROOT],
      target,
      store: createS3Client({ ...s3, region: 'auto' }),
      stateFile: join(work, 'retrain', 'spam.json'),
      shadowWeight: 1,
      canaryWeight: 0.5,
      minCompared: MIN_SAMPLES,
      minCanaryRequests: MIN_SAMPLES,
      log,
    };
    const loopStart = performance.now();
    let state: RetrainState = await retrainOnce(options);
    const stages: string[] = [state.stage];
    while (state.stage === 'shadow' || state.stage === 'canary') {
      if (performance.now() - loopStart > LOOP_TIMEOUT_MS)
        throw new Error(`the loop did not finish in time (stage ${state.stage})`);
      await traffic(20);
      await sleep(1200); // stats flush at most once a second
      state = await retrainOnce(options);
      if (stages.at(-1) !== state.stage) stages.push(state.stage);
    }
    lap('loop');
    log(`loop ended: ${state.stage}${state.reason === undefined ? '' : ` (${state.reason})`}`);

    let after = { acc: Number.NaN, ham_fpr: Number.NaN, escalated: Number.NaN };
    if (state.stage === 'promoted') {
      await sleep(POLICY_TTL_MS + 500);
      // The promoted version is a registry version at the edge: the first requests load it (model_loading).
      for (let i = 0; i < 60; i++) {
        const r = await classify(stack.edgeUrl, client, [heldOut[0]?.text ?? 'hi'], BYPASS);
        const reason = r.headers.get('x-escalation-reason') ?? '';
        if (r.status === 200 && !/model_loading|version_not_at_edge/.test(reason)) break;
        await sleep(250);
      }
      after = await measure(stack.edgeUrl, client, heldOut);
      log(`after (${state.candidate}): held-out drill ${JSON.stringify(after)}`);
    }
    lap('measure_after');
    const gate = state.gate;
    result({
      bench: 'loop',
      stable,
      candidate: state.candidate ?? null,
      final_stage: state.stage,
      stages,
      reason: state.reason ?? null,
      drill_labelled: labelled.length,
      drill_held_out: heldOut.length,
      review_queued: review.queued,
      review_labelled: review.labelled,
      domain_acc_before: before.acc,
      domain_acc_after: after.acc,
      domain_ham_fpr_before: before.ham_fpr,
      domain_ham_fpr_after: after.ham_fpr,
      domain_escalated_before: before.escalated,
      domain_escalated_after: after.escalated,
      corpus_acc_before: gate === undefined ? null : round(gate.corpus.stable_acc, 6),
      corpus_acc_after: gate === undefined ? null : round(gate.corpus.candidate_acc, 6),
      gate_pass: gate?.pass ?? null,
      gate_corpus_p: gate === undefined ? null : round(gate.corpus.paired.mcnemar_p, 4),
      gate_domain:
        gate === undefined
          ? null
          : {
              n: gate.domain.n,
              stable_acc: round(gate.domain.stable_acc, 4),
              candidate_acc: round(gate.domain.candidate_acc, 4),
            },
      manual_steps: 0,
      traffic_requests: sent,
      step_seconds: {
        ...seconds,
        ...Object.fromEntries(Object.entries(state.seconds).map(([k, v]) => [`retrain_${k}`, v])),
      },
      seconds: round((performance.now() - t0) / 1000, 1),
      note: 'drill: marketplace messages (training/src/data/drill.ts), 40% held out by key and never reviewed; releases built in a temporary registry root; reviewer scripted from the drill labels; loop stages in process (training/src/loop/retrain.ts)',
    });
  } finally {
    await stack.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
});
