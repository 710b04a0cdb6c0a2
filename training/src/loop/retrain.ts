/**
 * The learning loop, closed (`npm run retrain`): reviewed labels -> a release trained with them -> a gate against
 * stable -> the model registry -> shadow -> canary -> promote, with no step by hand.
 *
 * Stages, in order; each is idempotent and the state is saved after every one (`stateFile`), so a run that stops
 * (a crash, a CronJob's deadline) resumes where it stopped:
 *   export    the labelled review items (GET /v1/review/export), all of them: the release version hashes the set,
 *             so the same labels give the same version and nothing new is built
 *   build     a release with them as extras (build.ts: each item split by its own key; the corpus split unchanged),
 *             into `root` (a temporary registry for drills: the committed models/ is never trained on them)
 *   gate      loop/gate.ts against the rollout's stable release: not worse on the corpus test split beyond noise,
 *             better on the held-out reviewed items; the verdict goes into the candidate's eval.json. A failed gate
 *             publishes nothing and says why (stage `failed`)
 *   publish   npm run publish's code: the edge's registry (admin API) and, when given, the S3 store the origin polls
 *   shadow    the rollout policy: candidate in shadow (weight `shadowWeight`) with the policy's guardrails
 *   canary    once the shadow compared `minCompared` items with disagreement within the guardrail: canary at
 *             `canaryWeight`; the guardrails roll it back automatically if it misbehaves
 *   promoted  once the candidate answered `minCanaryRequests` requests and the policy still holds it: promote
 * `rolled_back` when the guardrails took the candidate out; `failed` when the gate refused it. Never a direct promote.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type EdgeComponents, unwrap } from '../../../client/src/index.ts';
import type { ObjectStore } from '../../../origin/src/registry-s3/client.ts';
import { type AdminTarget, adminClient, unwrapJson } from '../../../scripts/admin-client.ts';
import { publishToEdge, publishToStore, readRelease } from '../../../scripts/publish.ts';
import type { Manifest } from '../../../shared/manifest/index.ts';
import { buildRelease } from '../build.ts';
import type { ReleaseRecipe } from '../config.ts';
import { loadCorpus, type Message } from '../data/corpus.ts';
import { parseExtra, splitOfKey } from '../data/extra.ts';
import { splitStratified } from '../data/split.ts';
import { readManifest, writeArtifacts, writeManifest } from '../release/registry.ts';
import { type GateOptions, type GateVerdict, gateRelease } from './gate.ts';

export const STAGES = [
  'export',
  'build',
  'gate',
  'publish',
  'shadow',
  'canary',
  'promoted',
  'failed',
  'rolled_back',
  /** Nothing to do: no labelled items, none new since the last cycle, or the candidate is already stable. */
  'idle',
] as const;
export type Stage = (typeof STAGES)[number];
const TERMINAL: readonly Stage[] = ['promoted', 'failed', 'rolled_back', 'idle'];

export interface RetrainState {
  model: string;
  /** The next stage to run (or a terminal one). */
  stage: Stage;
  started_at: string;
  /** Labelled review items exported (count) and where they were saved. */
  reviewed?: number;
  /** sha256 of the export: a cycle with the same labels as the last one builds nothing. */
  reviewed_sha256?: string;
  extra_file?: string;
  stable?: string;
  candidate?: string;
  candidate_dir?: string;
  gate?: GateVerdict;
  /** Why the loop ended where it did (gate reasons, a rollback's reason). */
  reason?: string;
  /** When each stage finished, and how long it took (ms). */
  seconds: Partial<Record<Stage, number>>;
  /** When the current rollout stage began (ms since the epoch), for the stats window. */
  stage_since?: number;
}

export interface RetrainOptions {
  model: string;
  recipe: ReleaseRecipe;
  /** Where releases are built (a registry root: <root>/<model>/<version>/). */
  root: string;
  /** Where the stable release is looked for when it is not under `root`. @default [] */
  extraRoots?: readonly string[];
  /** The edge to export from, publish to and roll out on (admin key: admin + reviewer rights). */
  target: AdminTarget;
  /** The S3 store the origin polls (npm run publish --s3). @default none */
  store?: ObjectStore;
  stateFile: string;
  gate?: GateOptions;
  /** @default 1 (every request shadowed) */
  shadowWeight?: number;
  /** @default 0.1 */
  canaryWeight?: number;
  /** Shadow comparisons needed before the canary. @default the policy's guardrails.min_samples */
  minCompared?: number;
  /** Candidate requests needed before the promote. @default the policy's guardrails.min_samples */
  minCanaryRequests?: number;
  /** How long publish waits for the origin pool to serve the candidate, ms. @default 120000 */
  readyTimeoutMs?: number;
  /** The candidate's `created` (release order). @default the cycle's start */
  created?: () => string;
  now?: () => number;
  log?: (line: string) => void;
}

async function loadState(file: string): Promise<RetrainState | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as RetrainState;
  } catch {
    return undefined;
  }
}

async function saveState(file: string, state: RetrainState): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(state, null, 2)}\n`);
}

/** Adds the gate's verdict to the candidate's eval.json and the manifest's artifact entry. */
async function writeGate(dir: string, verdict: GateVerdict): Promise<Manifest> {
  const manifest = await readManifest(dir);
  const evalFile = manifest.artifacts.eval?.file ?? 'eval.json';
  const doc = JSON.parse(await readFile(join(dir, evalFile), 'utf8')) as Record<string, unknown>;
  doc.gate = verdict;
  const written = await writeArtifacts(dir, [
    { role: 'eval', file: evalFile, data: `${JSON.stringify(doc, null, 2)}\n`, format: 'json' },
  ]);
  return writeManifest(dir, { ...manifest, artifacts: { ...manifest.artifacts, ...written } });
}

async function findRelease(
  roots: readonly string[],
  model: string,
  version: string,
): Promise<{ dir: string; manifest: Manifest }> {
  for (const root of roots) {
    const dir = join(root, model, version);
    const manifest = await readManifest(dir).catch(() => undefined);
    if (manifest !== undefined) return { dir, manifest };
  }
  throw new Error(`the stable release ${model}/${version} is not under ${roots.join(' or ')}`);
}

/**
 * Runs the stages from where `stateFile` says until one has to wait for traffic (shadow, canary: returns with that
 * stage) or the loop ends (promoted, failed, rolled_back). Call again to go on; a terminal state starts a new cycle.
 */
export async function retrainOnce(o: RetrainOptions): Promise<RetrainState> {
  const now = o.now ?? Date.now;
  const log = o.log ?? ((line: string) => console.log(line));
  let state = await loadState(o.stateFile);
  const previous = state;
  if (state === undefined || TERMINAL.includes(state.stage) || state.model !== o.model) {
    state = { model: o.model, stage: 'export', started_at: new Date(now()).toISOString(), seconds: {} };
  }
  const s: RetrainState = state;
  const done = async (stage: Stage, next: Stage, started: number) => {
    s.seconds[stage] = Number(((now() - started) / 1000).toFixed(2));
    s.stage = next;
    if (next === 'shadow' || next === 'canary') s.stage_since = now();
    await saveState(o.stateFile, s);
    log(`retrain ${o.model}: ${stage} done (${s.seconds[stage]} s) -> ${next}`);
  };
  const edge = adminClient(o.target);
  const params = { path: { model: o.model } };
  const policyNow = async () => unwrap(await edge.GET('/v1/admin/models/{model}/rollout', { params })).policy;
  /** The candidate in `mode` at `weight`, the rest of the policy kept (its revision: a concurrent change is 409). */
  const rollTo = async (policy: Policy, mode: 'shadow' | 'canary', weight: number) =>
    unwrap(
      await edge.PUT('/v1/admin/models/{model}/rollout', {
        params,
        body: {
          stable: s.stable as string,
          candidate: s.candidate as string,
          mode,
          weight,
          stickiness: policy.stickiness,
          audit_rate: policy.audit_rate,
          guardrails: policy.guardrails,
          revision: policy.revision,
        },
      }),
    );
  for (;;) {
    const t0 = now();
    switch (s.stage) {
      case 'export': {
        const ndjson = unwrap(
          await edge.GET('/v1/review/export', { params: { query: { model: o.model } }, parseAs: 'text' }),
        );
        const extra = parseExtra(ndjson, 'review export');
        s.reviewed = extra.length;
        s.reviewed_sha256 = createHash('sha256').update(ndjson).digest('hex');
        const unchanged =
          previous !== undefined && previous !== s && previous.reviewed_sha256 === s.reviewed_sha256;
        if (extra.length === 0 || unchanged) {
          s.stage = 'idle';
          s.reason =
            extra.length === 0
              ? 'no labelled review items to train on'
              : `no new labels since the last cycle (${previous?.candidate ?? 'none'}, ${previous?.stage})`;
          await saveState(o.stateFile, s);
          return s;
        }
        s.extra_file = join(dirname(o.stateFile), `${o.model}-reviewed.ndjson`);
        await mkdir(dirname(s.extra_file), { recursive: true });
        await writeFile(s.extra_file, ndjson);
        await done('export', 'build', t0);
        break;
      }
      case 'build': {
        const extra = parseExtra(await readFile(s.extra_file as string, 'utf8'), s.extra_file);
        // The cycle's start: a build re-run after a crash writes the same bytes; newer than the stable release.
        const created = o.created?.() ?? s.started_at.replace(/\.\d+Z$/, 'Z');
        // Dated the day it is built (the version's prefix); the same labels on the same day give the same version.
        const result = await buildRelease(
          { ...o.recipe, releaseDate: created.slice(0, 10) },
          { root: o.root, extra, created, log: (line) => log(`  ${line}`) },
        );
        s.candidate = result.manifest.version;
        s.candidate_dir = result.dir;
        await done('build', 'gate', t0);
        break;
      }
      case 'gate': {
        s.stable = (await policyNow()).stable;
        if (s.stable === s.candidate) {
          s.stage = 'idle';
          s.reason = `the candidate ${s.candidate} is already stable: nothing new was labelled`;
          await saveState(o.stateFile, s);
          return s;
        }
        const stable = await findRelease([o.root, ...(o.extraRoots ?? [])], o.model, s.stable);
        const candidate = {
          dir: s.candidate_dir as string,
          manifest: await readManifest(s.candidate_dir as string),
        };
        const extra = parseExtra(await readFile(s.extra_file as string, 'utf8'), s.extra_file);
        const heldOut: Message[] = extra.filter((m) => splitOfKey(m.key, o.recipe.split) === 'test');
        const corpusTest = splitStratified(loadCorpus(), o.recipe.split).test;
        s.gate = await gateRelease(stable, candidate, corpusTest, heldOut, o.gate);
        await writeGate(candidate.dir, s.gate);
        log(
          `retrain ${o.model}: gate ${s.gate.pass ? 'passed' : 'FAILED'}: corpus ${pct(s.gate.corpus.stable_acc)} -> ${pct(s.gate.corpus.candidate_acc)} (p ${s.gate.corpus.paired.mcnemar_p.toPrecision(3)}), reviewed held-out ${pct(s.gate.domain.stable_acc)} -> ${pct(s.gate.domain.candidate_acc)} (n ${s.gate.domain.n})`,
        );
        if (!s.gate.pass) {
          s.seconds.gate = Number(((now() - t0) / 1000).toFixed(2));
          s.stage = 'failed';
          s.reason = s.gate.reasons.join('; ');
          await saveState(o.stateFile, s);
          return s;
        }
        await done('gate', 'publish', t0);
        break;
      }
      case 'publish': {
        const release = await readRelease(s.candidate_dir as string);
        await publishToEdge(release, o.target);
        if (o.store !== undefined) await publishToStore(release, o.store, now);
        // The shadow sends escalated items to the candidate's teacher: wait until the origin pool serves it (its
        // readiness through the edge), else try again on the next run rather than count failures against it.
        if (!(await originReady(o, s.candidate as string))) {
          log(`retrain ${o.model}: ${s.candidate} published; the origin does not serve it yet`);
          return s;
        }
        // Shadow: every `shadowWeight` share of requests also runs the candidate, off the request path.
        await rollTo(await policyNow(), 'shadow', o.shadowWeight ?? 1);
        await done('publish', 'shadow', t0);
        break;
      }
      case 'shadow':
      case 'canary': {
        const policy = await policyNow();
        if (policy.candidate !== s.candidate || policy.mode === 'off') {
          // The guardrails (or a person) took the candidate out: the loop ends here, stable serves.
          s.stage = 'rolled_back';
          s.reason = policy.reason ?? `the policy no longer holds ${s.candidate} (mode ${policy.mode})`;
          await saveState(o.stateFile, s);
          return s;
        }
        const minutes = Math.max(1, Math.ceil((now() - (s.stage_since ?? now())) / 60_000) + 1);
        const stats = unwrapJson(
          await edge.GET('/v1/admin/models/{model}/stats', { params: { ...params, query: { minutes } } }),
        );
        const mine = stats.versions.find((v) => v.version === s.candidate);
        const min = policy.guardrails.min_samples;
        if (s.stage === 'shadow') {
          const compared = mine?.shadow.samples ?? 0;
          const agreement = mine?.shadow.agreement ?? null;
          if (compared < (o.minCompared ?? min) || agreement === null) return s;
          if (1 - agreement > policy.guardrails.max_disagreement) {
            s.stage = 'rolled_back';
            s.reason = `shadow disagreement ${(1 - agreement).toFixed(3)} over ${compared} items is past the guardrail ${policy.guardrails.max_disagreement}`;
            unwrap(await edge.POST('/v1/admin/models/{model}/rollout/rollback', { params }));
            await saveState(o.stateFile, s);
            return s;
          }
          await rollTo(policy, 'canary', o.canaryWeight ?? 0.1);
          await done('shadow', 'canary', s.stage_since ?? t0);
          break;
        }
        if ((mine?.requests ?? 0) < (o.minCanaryRequests ?? min)) return s;
        unwrap(await edge.POST('/v1/admin/models/{model}/rollout/promote', { params }));
        await done('canary', 'promoted', s.stage_since ?? t0);
        return s;
      }
      default:
        return s;
    }
  }
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

type Policy = EdgeComponents['schemas']['RolloutPolicy'];

/** Polls the version's readiness at the origin pool (through the edge) for up to `readyTimeoutMs`. */
async function originReady(o: RetrainOptions, version: string): Promise<boolean> {
  const deadline = Date.now() + (o.readyTimeoutMs ?? 120_000);
  // This loop is the retry: no Retry-After waits inside it.
  const edge = adminClient(o.target, { retry: false });
  const params = { path: { model: o.model, version } };
  for (;;) {
    const ready = await edge
      .GET('/v2/models/{model}/versions/{version}/ready', { params })
      .catch(() => undefined);
    if (ready?.response.status === 200) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 500));
  }
}
