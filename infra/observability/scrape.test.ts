/**
 * The metric list the ops files are checked against (origin-metrics.ts) is what a real origin exports: start the
 * origin from origin/src on port 0 with a temp model repository (an MLP from training/src/onnx/mlp.ts, and a text
 * model with an OOD rule, a drift baseline and a planned edge share) and a model registry (a local S3 server standing
 * in for R2, with nothing published), run inferences (one good, one refused, one classify), scrape /metrics, and
 * compare names and types.
 */
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startOriginServer } from '../../origin/src/server.ts';
import {
  createModelRepository,
  mlpVersion,
  type TempRepository,
  textModel,
} from '../../origin/test/fixtures.ts';
import { type LocalS3, startLocalS3 } from '../../scripts/local-s3.ts';
import { featurizerFromManifest } from '../../shared/featurizer/index.ts';
import { exportedSeriesNames, ORIGIN_METRICS } from './origin-metrics.ts';
import { analyzePromql } from './promql.ts';

let repo: TempRepository;
let s3: LocalS3;
let origin: Awaited<ReturnType<typeof startOriginServer>>;
let exposition = '';

beforeAll(async () => {
  const shares = [0, 0, 0, 0, 0, 0.5, 0.2, 0.1, 0.1, 0.1];
  repo = await createModelRepository([
    mlpVersion('mlp', '1', [16, 8, 2]),
    {
      name: 'spam',
      version: '1',
      onnx: textModel(256, 32),
      featurizer: { name: 'email-hash', version: '1.0.0', config: { buckets: 256, maxLength: 32 } },
      ood: { seenIds: new Uint8Array(32).fill(0x55), minFeatures: 1, minCoverage: 0.5 },
      baseline: { source: 'scrape test', origin: { n: 10, score: shares, coverage: shares, labels: {} } },
    },
  ]);
  const manifest = join(repo.root, 'spam', '1', 'manifest.json');
  const json = JSON.parse(await readFile(manifest, 'utf8'));
  await writeFile(manifest, JSON.stringify({ ...json, expected_edge_share: 0.9 }));
  s3 = await startLocalS3();
  origin = await startOriginServer(
    {
      modelRepository: repo.root,
      executionProvider: 'cpu',
      registryEndpoint: s3.endpoint,
      registryBucket: s3.bucket,
      registryAccessKeyId: s3.accessKeyId,
      registrySecretAccessKey: s3.secretAccessKey,
      registryModels: ['spam'],
      registryPollSeconds: 0,
    },
    { featurizerFactory: featurizerFromManifest },
  );
  const ok = await fetch(`${origin.url}/v2/models/mlp/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      inputs: [
        {
          name: 'input',
          datatype: 'FP32',
          shape: [2, 16],
          data: Array.from({ length: 32 }, (_, i) => i / 32),
        },
      ],
    }),
  });
  expect(ok.status).toBe(200);
  const refused = await fetch(`${origin.url}/v2/models/mlp/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] }),
  });
  expect(refused.status).toBe(400);
  const classified = await fetch(`${origin.url}/v1/models/spam/classify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ texts: ['WIN MONEY NOW', 'minutes of the meeting'] }),
  });
  expect(classified.status).toBe(200);
  const metrics = await fetch(`${origin.url}/metrics`);
  expect(metrics.status).toBe(200);
  exposition = await metrics.text();
});

afterAll(async () => {
  await origin?.server.stop();
  await s3?.stop();
  await repo?.cleanup();
});

/** `# TYPE name type` lines of the Prometheus text exposition. */
function declaredTypes(text: string): Map<string, string> {
  return new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1] as string, m[2] as string]));
}

/** Names of the samples present (series lines). */
function sampleNames(text: string): Set<string> {
  return new Set([...text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{| )/gm)].map((m) => m[1] as string));
}

describe('a running origin exports what the ops files read', () => {
  it('declares every metric of origin-metrics.ts with its type', () => {
    const types = declaredTypes(exposition);
    for (const [name, type] of Object.entries(ORIGIN_METRICS)) expect(types.get(name), name).toBe(type);
  });

  it('has samples for every series the rules, dashboard and scaling queries use, labelled by model and version', () => {
    const samples = sampleNames(exposition);
    for (const name of exportedSeriesNames()) expect(samples, name).toContain(name);
    expect(exposition).toMatch(/^nv_inference_request_success\{model="mlp",version="1"\} 1$/m);
    expect(exposition).toMatch(/^nv_inference_count\{model="mlp",version="1"\} 2$/m);
    expect(exposition).toMatch(
      /^nv_inference_request_failure\{model="mlp",version="1",reason="invalid_input"\} 1$/m,
    );
    expect(exposition).toMatch(/^nv_model_ready\{model="mlp",version="1"\} 1$/m);
    expect(exposition).toMatch(/^nv_inference_prediction_psi\{model="spam",version="1",kind="score"\} \d/m);
    expect(exposition).toMatch(/^nv_model_expected_escalation_share\{model="spam",version="1"\} 0\.09/m);
    expect(exposition).toMatch(/^nv_model_registry_pulls_total\{model="spam",outcome="refused"\} 0$/m);
  });

  it('exports every nv_* and process metric the KEDA trigger and the alert rules name', () => {
    const samples = sampleNames(exposition);
    const rules = parse(
      readFileSync(fileURLToPath(new URL('./prometheus-rules.yaml', import.meta.url)), 'utf8'),
    );
    const recorded = new Set<string>();
    const read = new Set<string>();
    for (const group of rules.groups) {
      for (const rule of group.rules) {
        if (rule.record !== undefined) recorded.add(rule.record);
        for (const m of analyzePromql(rule.expr).metrics) read.add(m);
      }
    }
    // The edge's series come from its stats route (edge/test/workerd/stats.test.ts scrapes that one).
    const fromOrigin = [...read].filter((m) => !recorded.has(m) && !m.startsWith('edge_'));
    expect(fromOrigin.length).toBeGreaterThan(5);
    for (const m of fromOrigin) expect(samples, m).toContain(m);
  });
});
