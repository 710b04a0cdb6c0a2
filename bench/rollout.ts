/**
 * npm run bench:rollout: a model rollout through the whole local stack (scripts/stack.ts: the real origin, the
 * Upstash bridge over a real Redis, two edge "PoPs" in workerd via wrangler dev), driven through the admin API as an
 * operator would:
 *
 *   1. off vs shadow: the stable release answers; blocks with the policy off alternate with blocks where the good
 *      candidate shadows every request (and audit re-checks 10% of confident edge answers at the origin): the
 *      client's p50 with shadow on minus off, and the shadow's and audit's agreement from the stats route;
 *   2. canary 10% (sticky per key) over 500 API keys, each key asking again later: the observed share and
 *      sticky violations;
 *   3. promote, then rollback (which, right after a promote, undoes it), under steady load on both PoPs: the time
 *      until the other PoP answers with the new version (promote_propagation_ms, rollback_propagation_ms) and the
 *      failed requests during the switch;
 *   4. canary 10% of a deliberately bad candidate (test/fixtures/models: trained on shuffled labels, npm run
 *      train:shuffled): requests until the guardrails roll it back by themselves.
 *
 * Releases: stable = the older real spam release, the good candidate = the newest (models/spam), the bad one = the
 * fixture. The edge bundle embeds all three (an entry generated under .wrangler/bench-rollout/, the bundle's own
 * release module untouched); the origin serves the three (a temporary model repository, MODEL_VERSION_POLICY
 * latest:3). Texts: the release recipe's test split, each made unique per request; the cache is bypassed.
 * The last line printed is one JSON object.
 * Env: BENCH_KEYS (canary keys, default 500, at most 600), BENCH_SHADOW_REQUESTS (per mode, default 600), BENCH_CONCURRENCY
 * (default 4), BENCH_LOG=1 (the stack's output on stderr), BENCH_SMOKE=1 (50 keys, one block of 40 per mode, a 1 s
 * policy TTL, guardrails judging after 30 compared items: every phase in about a minute).
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { createEdgeClient, type EdgeComponents, unwrap } from '../client/src/index.ts';
import { adminClient, unwrapJson } from '../scripts/admin-client.ts';
import { chooseReleases, renderEdgeEntry, renderReleaseModule } from '../scripts/edge-release.ts';
import { startStack } from '../scripts/stack.ts';
import { classify, percentile, testMessages } from '../test/helpers.ts';
import { FIXTURE_MODELS_ROOT } from '../training/src/shuffled.ts';
import { envInt, log, result, round, sleep, smokeOr } from './lib.ts';

const ROOT = resolve(import.meta.dirname, '..');

// API_KEYS travels to workerd in one environment string: about 600 keys fit (spawn E2BIG beyond ~128 KB).
const KEYS = envInt('BENCH_KEYS', smokeOr(500, 50), 50, 600);
const SHADOW_REQUESTS = envInt('BENCH_SHADOW_REQUESTS', smokeOr(600, 40), 40, 100_000);
/** Off/shadow block pairs in phase 1. */
const BLOCKS = smokeOr(4, 1);
/** The edge's rollout policy cache (rollout/store.ts ttlMs): how long a change takes to reach every isolate. */
const POLICY_TTL_MS = smokeOr(5000, 1000);
/** Compared items before the guardrails judge the bad candidate. */
const BAD_MIN_SAMPLES = smokeOr(100, 30);
const CONCURRENCY = envInt('BENCH_CONCURRENCY', 4, 1, 256);
const CANARY_WEIGHT = 0.1;
const BAD_MAX_REQUESTS = 20_000;
const BYPASS = { 'cache-control': 'no-cache, no-store' };

type RolloutPolicy = EdgeComponents['schemas']['RolloutPolicy'];
type VersionStats = EdgeComponents['schemas']['VersionStats'];

/** The edge bundle's entry for this run: the app over the three releases (git-ignored, under .wrangler/). */
async function writeEdgeEntry(): Promise<{ entry: string; stable: string; good: string; bad: string }> {
  const real = await chooseReleases('spam', undefined, undefined, 2);
  const [fixture] = await chooseReleases('spam', undefined, FIXTURE_MODELS_ROOT, 1);
  const [older, newer] = real;
  if (older === undefined || newer === undefined || fixture === undefined)
    throw new Error(
      'needs two spam releases in models/ and the fixture in test/fixtures/models (npm run train:shuffled)',
    );
  const dir = join(ROOT, '.wrangler', 'bench-rollout');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'release.ts'), renderReleaseModule([...real, fixture], join(dir, 'release.ts')));
  const entry = join(dir, 'index.ts');
  writeFileSync(
    entry,
    renderEdgeEntry(entry, join(dir, 'release.ts'), `rollout: { ttlMs: ${POLICY_TTL_MS} }`),
  );
  return {
    entry,
    stable: older.manifest.version,
    good: newer.manifest.version,
    bad: fixture.manifest.version,
  };
}

/** A model repository holding the three releases (copies: the origin's registry does not follow links). */
function modelRepository(dirs: string[]): string {
  const repo = mkdtempSync(join(tmpdir(), 'bench-rollout-models-'));
  for (const d of dirs) cpSync(d, join(repo, 'spam', basename(d)), { recursive: true });
  return repo;
}

interface Outcome {
  status: number;
  ms: number;
  version: string | null;
  arm: string | null;
  key: string;
}

async function main(): Promise<void> {
  const { entry, stable, good, bad } = await writeEdgeEntry();
  const repo = modelRepository([
    join(ROOT, 'models', 'spam', stable),
    join(ROOT, 'models', 'spam', good),
    join(FIXTURE_MODELS_ROOT, 'spam', bad),
  ]);
  log(`bench:rollout: stable ${stable}, good candidate ${good}, bad candidate ${bad}`);
  log(`bench:rollout: starting the stack (origin, bridge over Redis, 2 edges in workerd), ${KEYS} keys`);
  const stack = await startStack({
    sharedState: 'test',
    edgeEntry: entry,
    originEnv: { MODEL_REPOSITORY: repo, MODEL_VERSION_POLICY: 'latest:3' },
    keys: [
      { name: 'bench-admin', tier: 'bench', scopes: ['admin', 'infer'] },
      ...Array.from({ length: KEYS }, (_, i) => ({ name: `u${i}`, tier: 'bench' })),
    ],
    edgeVars: { RATE_LIMIT_TIERS: JSON.stringify({ bench: { limit: 10_000_000, window: '60 s' } }) },
    ...(process.env.BENCH_LOG === '1'
      ? { log: (label: string, line: string) => console.error(`${label} ${line}`) }
      : {}),
  });
  try {
    const second = await stack.startEdge();
    const pops = [stack.edgeUrl, second.url];
    const admin = stack.apiKeys[0]?.key as string;
    const users = stack.apiKeys.slice(1).map((k) => k.key);
    const texts = testMessages().map((m) => m.text);
    let sent = 0;
    const outcomes: Outcome[] = [];
    const send = async (pop: string, key: string): Promise<Outcome> => {
      const n = sent++;
      const text = `${texts[n % texts.length]}\n[bench-rollout ${n}]`;
      const r = await classify(pop, key, [text], BYPASS);
      const o = {
        status: r.status,
        ms: r.ms,
        version: r.headers.get('x-model-version'),
        arm: r.headers.get('x-rollout-arm'),
        key,
      };
      outcomes.push(o);
      return o;
    };
    /** `count` requests at CONCURRENCY, key and PoP chosen per request index. */
    const drive = async (count: number, pick: (i: number) => { pop: string; key: string }) => {
      const out: Outcome[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < count) {
            const { pop, key } = pick(next++);
            out.push(await send(pop, key));
          }
        }),
      );
      return out;
    };
    const edge = adminClient({ url: stack.edgeUrl, key: admin });
    const params = { path: { model: 'spam' } };
    const policyNow = async () =>
      unwrap(await edge.GET('/v1/admin/models/{model}/rollout', { params })).policy;
    const put = async (body: EdgeComponents['schemas']['RolloutPolicyUpdate']) =>
      unwrap(await edge.PUT('/v1/admin/models/{model}/rollout', { params, body }));
    const stats = async () => {
      await sleep(2500); // the recorder flushes at most once a second, off the request path
      const query = { minutes: 60 };
      return unwrapJson(await edge.GET('/v1/admin/models/{model}/stats', { params: { ...params, query } }))
        .versions;
    };
    const of = (versions: VersionStats[], v: string) => versions.find((s) => s.version === v);

    // Warm-up: every student's session on both PoPs, the origin's teachers.
    for (const pop of pops) {
      const client = createEdgeClient({ baseUrl: pop, apiKey: admin });
      for (const version of [stable, good, bad])
        await classify(pop, admin, ['warm-up'], { ...BYPASS, 'x-escalate': 'always' }).then(() =>
          client
            .classify('spam', ['warm-up'], { version, cacheControl: BYPASS['cache-control'] })
            .catch(() => undefined),
        );
    }

    // 1. Off vs shadow, alternating blocks on PoP a.
    await put({ stable, mode: 'off' });
    await sleep(POLICY_TTL_MS + 500); // every isolate's cached policy expires
    const before = await stats();
    const block = Math.max(20, Math.floor(SHADOW_REQUESTS / BLOCKS));
    const latency: { off: number[]; shadow: number[] } = { off: [], shadow: [] };
    const user = (i: number) => users[i % users.length] as string;
    for (let b = 0; b < BLOCKS; b++) {
      for (const mode of ['off', 'shadow'] as const) {
        const current = await policyNow();
        await put({
          stable,
          candidate: good,
          mode,
          weight: mode === 'shadow' ? 1 : 0,
          audit_rate: 0.1,
          revision: current.revision,
        });
        await sleep(POLICY_TTL_MS + 500);
        const got = await drive(block, (i) => ({ pop: stack.edgeUrl, key: user(i) }));
        latency[mode].push(...got.filter((o) => o.status === 200).map((o) => o.ms));
      }
    }
    const afterShadow = await stats();
    const delta = (
      a: VersionStats | undefined,
      b: VersionStats | undefined,
      pick: (s: VersionStats) => number,
    ) => (a === undefined ? 0 : pick(a)) - (b === undefined ? 0 : pick(b));
    const shadowSamples = delta(of(afterShadow, good), of(before, good), (s) => s.shadow.samples);
    const shadowAgree = delta(of(afterShadow, good), of(before, good), (s) => s.shadow.agree);
    const auditSamples = delta(of(afterShadow, stable), of(before, stable), (s) => s.audit.samples);
    const auditAgree = delta(of(afterShadow, stable), of(before, stable), (s) => s.audit.agree);
    const p50 = (xs: number[]) => percentile(xs, 50);
    log(
      `  shadow: ${shadowSamples} items compared, agreement ${round(shadowAgree / Math.max(1, shadowSamples), 4)}; audit ${auditSamples} items, agreement ${round(auditAgree / Math.max(1, auditSamples), 4)}; client p50 off ${round(p50(latency.off), 2)} ms, shadow ${round(p50(latency.shadow), 2)} ms`,
    );

    // 2. Canary 10%, sticky per key: every key once, then 200 keys twice more.
    {
      const current = await policyNow();
      await put({
        stable,
        candidate: good,
        mode: 'canary',
        weight: CANARY_WEIGHT,
        audit_rate: 0.1,
        revision: current.revision,
      });
    }
    await sleep(POLICY_TTL_MS + 500);
    const firstPass = await drive(users.length, (i) => ({ pop: pops[i % 2] as string, key: user(i) }));
    const again = users.slice(0, 200);
    const secondPass = await drive(again.length * 2, (i) => ({
      pop: pops[(i + 1) % 2] as string,
      key: again[i % again.length] as string,
    }));
    const seen = new Map<string, Set<string>>();
    for (const o of [...firstPass, ...secondPass]) {
      if (o.status !== 200 || o.version === null) continue;
      const s = seen.get(o.key) ?? new Set<string>();
      s.add(o.version);
      seen.set(o.key, s);
    }
    const stickyViolations = [...seen.values()].filter((s) => s.size > 1).length;
    const canaryKeys = firstPass.filter((o) => o.version === good).length;
    const canaryShare = canaryKeys / Math.max(1, firstPass.filter((o) => o.status === 200).length);
    log(
      `  canary ${CANARY_WEIGHT}: ${canaryKeys} of ${firstPass.length} keys on the candidate (${round(100 * canaryShare, 2)}%), ${stickyViolations} sticky violations`,
    );

    // 3. Promote, then rollback, each under load on both PoPs; a probe key of the stable arm on PoP b says when
    // the change reached it.
    const probe = firstPass.find((o) => o.version === stable && o.status === 200)?.key as string;
    const switchTo = async (action: 'promote' | 'rollback', want: string) => {
      let stop = false;
      const load = (async () => {
        let i = 0;
        while (!stop) await send(pops[i % 2] as string, user(i++));
      })();
      const errorsBefore = outcomes.filter((o) => o.status !== 200).length;
      unwrap(await edge.POST(`/v1/admin/models/{model}/rollout/${action}`, { params }));
      const t0 = performance.now();
      let ms = Number.NaN;
      while (performance.now() - t0 < 20_000) {
        const o = await send(second.url, probe);
        if (o.version === want) {
          ms = performance.now() - t0;
          break;
        }
        await sleep(25);
      }
      stop = true;
      await load;
      return { ms, errors: outcomes.filter((o) => o.status !== 200).length - errorsBefore };
    };
    const promoted = await switchTo('promote', good);
    const rolledBack = await switchTo('rollback', stable);
    log(
      `  promote reached PoP b in ${round(promoted.ms, 0)} ms (${promoted.errors} errors during the switch); rollback in ${round(rolledBack.ms, 0)} ms (${rolledBack.errors} errors)`,
    );

    // 4. Canary 10% of the bad candidate (its guardrails: BAD_MIN_SAMPLES compared items, disagreement <= 0.2).
    {
      const current = await policyNow();
      await put({
        stable,
        candidate: bad,
        mode: 'canary',
        weight: CANARY_WEIGHT,
        guardrails: {
          min_samples: BAD_MIN_SAMPLES,
          max_error_rate: 0.05,
          max_p95_ms: 1000,
          max_disagreement: 0.2,
        },
        revision: current.revision,
      });
    }
    await sleep(POLICY_TTL_MS + 500);
    let badRequests = 0;
    let badAnswers = 0;
    let rolled: RolloutPolicy | undefined;
    while (badRequests < BAD_MAX_REQUESTS) {
      const got = await drive(50, (i) => ({ pop: pops[i % 2] as string, key: user(badRequests + i) }));
      badRequests += got.length;
      badAnswers += got.filter((o) => o.version === bad).length;
      const p = await policyNow();
      if (p.updated_by === 'guardrail') {
        rolled = p;
        break;
      }
    }
    // After the rollback (and the TTL), the bad candidate answers nobody.
    await sleep(POLICY_TTL_MS + 500);
    const after = await drive(smokeOr(200, 50), (i) => ({ pop: pops[i % 2] as string, key: user(i) }));
    const badAfter = after.filter((o) => o.version === bad).length;
    log(
      `  bad candidate: ${rolled === undefined ? 'NOT rolled back' : `rolled back after ${badRequests} requests (${badAnswers} answered by it): ${rolled.reason}`}; answers by it afterwards: ${badAfter}`,
    );

    const errors = outcomes.filter((o) => o.status !== 200);
    result({
      bench: 'rollout',
      stable,
      good_candidate: good,
      bad_candidate: bad,
      pops: pops.length,
      keys: users.length,
      concurrency: CONCURRENCY,
      requests: outcomes.length,
      errors: errors.length,
      error_statuses: Object.fromEntries(
        [...new Set(errors.map((o) => o.status))].map((s) => [
          s,
          errors.filter((o) => o.status === s).length,
        ]),
      ),
      canary_weight: CANARY_WEIGHT,
      canary_share_observed: round(canaryShare, 4),
      canary_keys: firstPass.length,
      sticky_violations: stickyViolations,
      shadow_samples: shadowSamples,
      shadow_agreement: shadowSamples === 0 ? null : round(shadowAgree / shadowSamples, 4),
      audit_samples: auditSamples,
      audit_agreement: auditSamples === 0 ? null : round(auditAgree / auditSamples, 4),
      promote_propagation_ms: round(promoted.ms, 0),
      rollback_propagation_ms: round(rolledBack.ms, 0),
      switch_errors: promoted.errors + rolledBack.errors,
      policy_ttl_ms: POLICY_TTL_MS,
      auto_rollback: rolled !== undefined,
      auto_rollback_after_requests: rolled === undefined ? null : badRequests,
      auto_rollback_bad_answers: badAnswers,
      auto_rollback_reason: rolled?.reason ?? null,
      bad_answers_after_rollback: badAfter,
      off_p50_ms: round(p50(latency.off), 2),
      shadow_p50_ms: round(p50(latency.shadow), 2),
      shadow_p50_overhead_ms: round(p50(latency.shadow) - p50(latency.off), 2),
      off_p99_ms: round(percentile(latency.off, 99), 2),
      shadow_p99_ms: round(percentile(latency.shadow, 99), 2),
      note: 'client-side latency through wrangler dev; shadow weight 1 (every request shadowed) in alternating blocks with off; propagation measured on the second PoP by a stable-arm key',
    });
  } finally {
    await stack.stop();
    rmSync(repo, { recursive: true, force: true });
    rmSync(dirname(entry), { recursive: true, force: true });
  }
}

await main();
