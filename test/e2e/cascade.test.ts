/**
 * The cascade end to end on real parts: origin process (real teacher, onnxruntime-node), the Upstash REST bridge
 * over a real Redis, the edge Worker in workerd (wrangler dev) with the embedded student. A confident message is
 * answered at the edge, an uncertain one by the origin, a repeat from cache (L1 on the same PoP, L2 on a fresh
 * one), and killing the origin degrades to the edge answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from '../../scripts/stack.ts';
import { decideRow, labelRule } from '../../shared/decision/index.ts';
import { parseManifest } from '../../shared/manifest/index.ts';
import { EVERYDAY_TEXTS } from '../../training/src/data/everyday.ts';
import { holdStackToContract } from '../contract.ts';
import { fuzzRequest, rng, runFuzz, signFuzz } from '../fuzz.ts';
import { classify, isErrorShape, testMessages } from '../helpers.ts';

interface Pred {
  label: string;
  score: number;
  served_by?: string;
  escalation_reason?: string;
  origin_pool?: string;
}
interface Body {
  served_by: string;
  version: string;
  predictions: Pred[];
}

let stack: Stack;
let key: string;
let uncertain: string;
let threshold: number;

beforeAll(async () => {
  stack = await startStack({ sharedState: 'test' });
  holdStackToContract(stack);
  key = stack.apiKeys[0]?.key as string;
  // The edge's own answer for test-split messages (x-escalate: never, no cache) finds one below its threshold.
  const manifestRes = await fetch(`${stack.originUrls[0]}/v2/health/ready`);
  expect(manifestRes.ok).toBe(true);
  const { readFileSync, readdirSync } = await import('node:fs');
  const dir = readdirSync('models/spam').sort().at(-1) as string;
  threshold = (JSON.parse(readFileSync(`models/spam/${dir}/manifest.json`, 'utf8')) as { threshold: number })
    .threshold;
  for (const m of testMessages()) {
    const r = await classify(stack.edgeUrl, key, [m.text], {
      'x-escalate': 'never',
      'cache-control': 'no-cache, no-store',
    });
    const score = (r.body as Body).predictions?.[0]?.score ?? 1;
    if (r.status === 200 && score < threshold) {
      uncertain = m.text;
      break;
    }
  }
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

describe('the cascade through the whole stack', () => {
  it('answers a confident message at the edge', async () => {
    const r = await classify(stack.edgeUrl, key, [
      `Subject: WIN a FREE cruise!!! Click http://win.example.com now ${Date.now()}`,
    ]);
    expect(r.status).toBe(200);
    const body = r.body as Body;
    expect(body.served_by).toBe('edge');
    expect(r.headers.get('x-served-by')).toBe('edge');
    expect(body.predictions[0]?.label).toBe('spam');
    expect(body.predictions[0]?.score).toBeGreaterThanOrEqual(threshold);
  });

  it('escalates an uncertain message and the origin answers it', async () => {
    expect(uncertain, 'no test-split message scored below the edge threshold').toBeTypeOf('string');
    const r = await classify(stack.edgeUrl, key, [uncertain], { 'cache-control': 'no-store' });
    expect(r.status).toBe(200);
    expect((r.body as Body).served_by).toBe('origin');
    expect(r.headers.get('x-escalation-reason')).toBe('low_confidence');
  });

  it('in a mixed request only the uncertain item goes to the real teacher; answers merged in order', async () => {
    const confident = `Subject: WIN a FREE cruise!!! Click http://win.example.com now ${Date.now()}`;
    const r = await classify(stack.edgeUrl, key, [confident, uncertain, confident], {
      'cache-control': 'no-store',
    });
    expect(r.status).toBe(200);
    const body = r.body as Body & { served_by_counts: Record<string, number> };
    expect(body.predictions.map((p) => p.served_by)).toEqual(['edge', 'origin', 'edge']);
    expect(body.served_by).toBe('origin');
    expect(body.served_by_counts).toMatchObject({ edge: 2, origin: 1 });
    expect(r.headers.get('x-served-by-counts')).toBe('edge=2, origin=1');
    expect(body.predictions[0]?.label).toBe('spam');
    expect(body.predictions[2]).toEqual(body.predictions[0]);
  });

  it('labels by the release decision rule identically at both tiers (student at the edge, teacher at the origin)', async () => {
    const { readFileSync, readdirSync } = await import('node:fs');
    const dir = readdirSync('models/spam').sort().at(-1) as string;
    const manifest = parseManifest(JSON.parse(readFileSync(`models/spam/${dir}/manifest.json`, 'utf8')));
    expect(manifest.decision?.default_label).toBe('ham');
    // Short everyday texts: many lean spam without clearing the cutoff, so the rule's unsure branch is exercised.
    const texts = EVERYDAY_TEXTS.slice(0, 120).map((t) => t.text);
    const nocache = { 'cache-control': 'no-cache, no-store' };
    for (const [tier, headers, role, servedBy] of [
      ['edge', { ...nocache, 'x-escalate': 'never' }, manifest.serving.edge, 'edge'],
      ['origin', { ...nocache, 'x-escalate': 'always' }, manifest.serving.origin, 'origin'],
    ] as const) {
      const r = await classify(stack.edgeUrl, key, texts, headers);
      expect(r.status, tier).toBe(200);
      const body = r.body as Body & {
        predictions: Array<Pred & { scores: Record<string, number>; unsure?: boolean }>;
      };
      expect(body.version).toBe(manifest.version);
      const rule = labelRule(manifest, role);
      let unsure = 0;
      for (const p of body.predictions) {
        expect(p.served_by).toBe(servedBy);
        const d = decideRow(
          manifest.labels.map((l) => p.scores[l] as number),
          manifest.labels,
          rule,
        );
        expect([p.label, p.unsure === true], `${tier}: ${JSON.stringify(p)}`).toEqual([d.label, d.unsure]);
        expect(p.score).toBe(p.scores[p.label]);
        if (p.unsure === true) unsure++;
      }
      expect(unsure, `${tier}: some items under the cutoff`).toBeGreaterThan(0);
    }
  });

  it('escalates on x-escalate: always', async () => {
    const r = await classify(stack.edgeUrl, key, [`always to the origin ${Date.now()}`], {
      'x-escalate': 'always',
    });
    expect(r.status).toBe(200);
    expect((r.body as Body).served_by).toBe('origin');
    expect(r.headers.get('x-escalation-reason')).toBe('client_requested');
  });

  it('serves a repeat from L1 on the same PoP and from L2 on a fresh PoP', async () => {
    const text = `Subject: cheap meds, no prescription, order now ${Date.now()}`;
    const first = await classify(stack.edgeUrl, key, [text], { 'x-escalate': 'always' });
    expect(first.status).toBe(200);
    expect((first.body as Body).served_by).toBe('origin');
    // Cache writes happen in the background (waitUntil): poll briefly.
    let again = await classify(stack.edgeUrl, key, [text]);
    for (let i = 0; i < 20 && (again.body as Body).served_by !== 'cache'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      again = await classify(stack.edgeUrl, key, [text]);
    }
    expect((again.body as Body).served_by).toBe('cache');
    expect(again.headers.get('x-cache')).toBe('HIT');
    // Per PoP: L0 (the isolate's memory) or L1 (caches.default); both are local hits.
    expect(['L0', 'L1']).toContain(again.headers.get('x-cache-tier'));
    // The same answers, now per item from the cache.
    const fromOrigin = (first.body as Body).predictions;
    expect(fromOrigin.map((p) => p.served_by)).toEqual(['origin']);
    // A cached answer says who answers now (the cache) and carries no escalation reason and no origin pool.
    expect(fromOrigin.map((p) => p.origin_pool)).toEqual(['default']);
    const cachedAs = fromOrigin.map(({ escalation_reason: _, origin_pool: _pool, ...p }) => ({
      ...p,
      served_by: 'cache',
    }));
    expect((again.body as Body).predictions).toEqual(cachedAs);

    const pop2 = await stack.startEdge();
    holdStackToContract({ edgeUrl: pop2.url, originUrls: [] });
    try {
      const fromL2 = await classify(pop2.url, key, [text]);
      expect(fromL2.status).toBe(200);
      expect((fromL2.body as Body).served_by).toBe('cache');
      expect(fromL2.headers.get('x-cache-tier')).toBe('L2');
      expect((fromL2.body as Body).predictions).toEqual(cachedAs);
    } finally {
      await pop2.stop();
    }
  });

  it('answers a small fuzz of malformed requests with JSON errors and no 5xx', async () => {
    const bad: Array<[string, RequestInit]> = [
      [
        '/v1/models/spam/classify',
        { method: 'POST', body: '{', headers: { 'content-type': 'application/json' } },
      ],
      [
        '/v1/models/spam/classify',
        { method: 'POST', body: '{"texts":3}', headers: { 'content-type': 'application/json' } },
      ],
      [
        '/v1/models/spam/classify',
        { method: 'POST', body: '{"texts":["a"]}', headers: { 'content-type': 'text/plain' } },
      ],
      ['/v1/models/spam/classify', { method: 'GET' }],
      [
        '/v1/models/nope/classify',
        { method: 'POST', body: '{"texts":["a"]}', headers: { 'content-type': 'application/json' } },
      ],
      [
        '/v2/models/spam/infer',
        { method: 'POST', body: '{"inputs":[{}]}', headers: { 'content-type': 'application/json' } },
      ],
      ['/nowhere', { method: 'GET' }],
    ];
    for (const [path, init] of bad) {
      const res = await fetch(`${stack.edgeUrl}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${key}`, ...(init.headers as Record<string, string> | undefined) },
      });
      const body = await res.json().catch(() => undefined);
      expect(res.status, `${init.method} ${path}`).toBeGreaterThanOrEqual(400);
      expect(res.status, `${init.method} ${path}`).toBeLessThan(500);
      expect(isErrorShape(body), `${init.method} ${path}: ${JSON.stringify(body)}`).toBe(true);
    }
  });

  it('answers a seeded fuzz of 300 random requests at the edge and 300 at the origin: no 5xx, JSON errors', async () => {
    const r = rng(0xe2e);
    const edge = await runFuzz(stack.edgeUrl, 300, 16, async () => fuzzRequest(r, key));
    expect(edge.failures.slice(0, 10)).toEqual([]);
    const origin = await runFuzz(stack.originUrls[0] as string, 300, 16, async () => {
      const req = fuzzRequest(r, key);
      return r() < 0.5 ? signFuzz(req, stack.signingSecret) : req;
    });
    expect(origin.failures.slice(0, 10)).toEqual([]);
    expect((await fetch(`${stack.edgeUrl}/v2/health/live`)).status).toBe(200);
    expect((await fetch(`${stack.originUrls[0]}/v2/health/ready`)).status).toBe(200);
  });
});
