/**
 * One model name, one OIP signature: the edge (workerd, the embedded student) and the origin (Node, the real
 * teacher) describe `spam` with the same inputs and outputs, and answer the same requests (JSON, nested, the
 * binary extension with BYTES in and out, the raw ids, requested outputs, and the same refusals) the same way.
 * The same for `digits`, a tensor release (no featurizer): the edge answers its rows with the student, matching
 * onnxruntime-node's answers for the same rows, escalates the unsure ones, and refuses bad tensors with the
 * origin's very errors.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from '../../scripts/stack.ts';
import { featurizerFromManifest } from '../../shared/featurizer/index.ts';
import { parseManifest } from '../../shared/manifest/index.ts';
import {
  decodeInferResponse,
  type EncodedBody,
  encodeInferRequest,
  type InferResponse,
} from '../../shared/protocol/index.ts';
import { signRequest } from '../../shared/signing/index.ts';
import { loadDigits, splitDigits } from '../../training/src/digits/data.ts';
import { DIGITS_RECIPE } from '../../training/src/digits/recipe.ts';
import { holdStackToContract } from '../contract.ts';
import { errorCode } from '../helpers.ts';

/** Release folders of a model, oldest first by name (version ids sort by date). */
function listReleasesSync(model: string): string[] {
  return readdirSync(`models/${model}`)
    .sort()
    .map((v) => `models/${model}/${v}`);
}

let stack: Stack;
let key: string;

beforeAll(async () => {
  stack = await startStack({ sharedState: 'test' });
  holdStackToContract(stack);
  key = stack.apiKeys[0]?.key as string;
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

type Tier = 'edge' | 'origin';

/** A request to one tier: the edge with the API key, the origin signed as the edge signs. */
async function send(
  tier: Tier,
  method: 'GET' | 'POST',
  path: string,
  body?: EncodedBody,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; bytes: Uint8Array }> {
  const h: Record<string, string> = { ...headers };
  if (body !== undefined) {
    h['content-type'] = body.contentType;
    if (body.headerLength !== undefined) h['inference-header-content-length'] = String(body.headerLength);
  }
  let base = stack.edgeUrl;
  if (tier === 'edge') h.authorization = `Bearer ${key}`;
  else {
    base = stack.originUrls[0] as string;
    Object.assign(
      h,
      await signRequest({ secret: stack.signingSecret, method, path, body: body?.body ?? null }),
    );
  }
  const res = await fetch(`${base}${path}`, { method, headers: h, body: body?.body as BodyInit | undefined });
  const bytes = new Uint8Array(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, bytes };
}

const json = (bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes));

type TierAnswer = { status: number; response?: InferResponse; code?: string; message?: string };

async function inferBoth(
  body: EncodedBody,
  headers: Record<string, string> = {},
  model = 'spam',
): Promise<Record<Tier, TierAnswer>> {
  const out = {} as Record<Tier, TierAnswer>;
  for (const tier of ['edge', 'origin'] as const) {
    const r = await send(tier, 'POST', `/v2/models/${model}/infer`, body, headers);
    out[tier] =
      r.status === 200
        ? {
            status: 200,
            response: decodeInferResponse(r.bytes, r.headers.get('inference-header-content-length')),
          }
        : {
            status: r.status,
            code: errorCode(json(r.bytes)) as string,
            message: json(r.bytes).error?.message,
          };
  }
  return out;
}

/** Names, datatypes and shapes of the outputs, in order. */
const layout = (r: InferResponse | undefined) => r?.outputs.map((o) => [o.name, o.datatype, o.shape]);

const TEXTS = [
  'Subject: WIN a FREE cruise!!! Click http://win.example.com now',
  'Subject: minutes of the meeting\n\nHi team, the minutes are attached. Thanks, Ann',
];

describe('one signature for spam at the edge and the origin', () => {
  it('model metadata: the same inputs, outputs, labels, threshold and raw inputs', async () => {
    const edge = json((await send('edge', 'GET', '/v2/models/spam')).bytes);
    const origin = json((await send('origin', 'GET', '/v2/models/spam')).bytes);
    expect(edge.name).toBe(origin.name);
    expect(edge.inputs).toEqual(origin.inputs);
    expect(edge.outputs).toEqual(origin.outputs);
    expect(edge.inputs).toEqual([{ name: 'text', datatype: 'BYTES', shape: [-1] }]);
    expect(origin.versions).toEqual(expect.arrayContaining(edge.versions));
    for (const p of ['labels', 'threshold', 'raw_inputs', 'text_route', 'ood']) {
      expect(edge.parameters[p], p).toEqual(origin.parameters[p]);
    }
  });

  it('the same text requests (JSON, nested, binary BYTES in and out) get the same layout at both tiers', async () => {
    const bodies: EncodedBody[] = [
      encodeInferRequest({
        inputs: [{ name: 'text', datatype: 'BYTES', shape: [2], data: TEXTS }],
        binaryInputs: false,
      }),
      {
        body: JSON.stringify({
          inputs: [{ name: 'text', datatype: 'BYTES', shape: [2, 1], data: TEXTS.map((t) => [t]) }],
          outputs: [{ name: 'label' }],
        }),
        contentType: 'application/json',
      },
      encodeInferRequest({
        inputs: [{ name: 'text', datatype: 'BYTES', shape: [2], data: TEXTS }],
        binaryOutput: true,
      }),
    ];
    for (const body of bodies) {
      const both = await inferBoth(body, { 'cache-control': 'no-store' });
      expect(both.edge.status).toBe(200);
      expect(both.origin.status).toBe(200);
      expect(layout(both.edge.response)).toEqual(layout(both.origin.response));
      // With x-escalate: always the edge's answer is the teacher's: the same values.
      const always = await inferBoth(body, { 'x-escalate': 'always', 'cache-control': 'no-store' });
      const label = (r: InferResponse | undefined) => r?.outputs.find((o) => o.name === 'label')?.data;
      expect(label(always.edge.response)).toEqual(label(always.origin.response));
      expect(label(always.edge.response)).toEqual(['spam', 'ham']);
      const probs = (r: InferResponse | undefined) =>
        Array.from((r?.outputs.find((o) => o.name === 'probabilities')?.data as Float32Array) ?? []);
      const e = probs(always.edge.response);
      probs(always.origin.response).forEach((p, i) => {
        expect(e[i]).toBeCloseTo(p, 5);
      });
    }
  });

  it('the raw ids (the documented second input) reach the teacher through both tiers', async () => {
    const dir = (await import('node:fs')).readdirSync('models/spam').sort().at(-1) as string;
    const manifest = parseManifest(
      JSON.parse((await import('node:fs')).readFileSync(`models/spam/${dir}/manifest.json`, 'utf8')),
    );
    const featurizer = featurizerFromManifest(manifest.featurizer);
    const width = 1024;
    const ids = new Int32Array(2 * width);
    TEXTS.forEach((t, i) => {
      ids.set(featurizer.featurize(t), i * width);
    });
    const both = await inferBoth(
      encodeInferRequest({ inputs: [{ name: 'ids', datatype: 'INT32', shape: [2, width], data: ids }] }),
    );
    expect(both.edge.status).toBe(200);
    expect(layout(both.edge.response)).toEqual(layout(both.origin.response));
    expect(both.edge.response?.outputs.find((o) => o.name === 'label')?.data).toEqual(['spam', 'ham']);
  });

  it('the same refusals: status and code agree', async () => {
    const header = new TextEncoder().encode(
      JSON.stringify({
        inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 6 } }],
      }),
    );
    const truncated = new Uint8Array(header.length + 6);
    truncated.set(header);
    truncated.set([9, 0, 0, 0, 0x61, 0x62], header.length);
    const jsonBody = (v: unknown): EncodedBody => ({
      body: JSON.stringify(v),
      contentType: 'application/json',
    });
    const cases: EncodedBody[] = [
      jsonBody({ inputs: [{ name: 'txt', datatype: 'BYTES', shape: [1], data: ['a'] }] }),
      jsonBody({ inputs: [{ name: 'text', datatype: 'BYTES', shape: [1, 2], data: ['a', 'b'] }] }),
      jsonBody({
        inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], data: ['a'] }],
        outputs: [{ name: 'x' }],
      }),
      jsonBody({ inputs: [{ name: 'text', datatype: 'BYTES', shape: [2], data: ['a'] }] }),
      { body: truncated, contentType: 'application/octet-stream', headerLength: header.length },
    ];
    for (const body of cases) {
      const both = await inferBoth(body);
      expect(both.edge, String(body.body).slice(0, 120)).toEqual(both.origin);
      expect(both.edge.status).toBe(400);
    }
  });
});

describe('digits: a tensor release at the edge and the origin', () => {
  const release = listReleasesSync('digits').at(-1) as string;
  const manifest = () => parseManifest(JSON.parse(readFileSync(`${release}/manifest.json`, 'utf8')));
  /** The first `n` rows of the digits test split. */
  const testRows = (n: number) => {
    const splits = splitDigits(loadDigits(), DIGITS_RECIPE.split);
    return splits.test.x.slice(0, n * 784);
  };
  const rowsBody = (x: Float32Array, binary = true): EncodedBody =>
    encodeInferRequest({
      inputs: [{ name: 'input', datatype: 'FP32', shape: [x.length / 784, 784], data: x }],
      binaryInputs: binary,
      binaryOutput: binary,
    });
  const probs = (r: InferResponse | undefined) =>
    Array.from((r?.outputs.find((o) => o.name === 'probabilities')?.data as Float32Array) ?? []);

  it('model metadata: the same inputs and outputs; no text route at either tier', async () => {
    const edge = json((await send('edge', 'GET', '/v2/models/digits')).bytes);
    const origin = json((await send('origin', 'GET', '/v2/models/digits')).bytes);
    expect(edge.inputs).toEqual(origin.inputs);
    expect(edge.outputs).toEqual(origin.outputs);
    expect(edge.inputs).toEqual([{ name: 'input', datatype: 'FP32', shape: [-1, 784] }]);
    expect(edge.parameters.labels).toEqual(manifest().labels);
    for (const tier of ['edge', 'origin'] as const) {
      const r = await fetch(
        `${tier === 'edge' ? stack.edgeUrl : stack.originUrls[0]}/v1/models/digits/classify`,
        {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(tier === 'edge'
              ? { authorization: `Bearer ${key}` }
              : await signRequest({
                  secret: stack.signingSecret,
                  method: 'POST',
                  path: '/v1/models/digits/classify',
                  body: '{"text":"7"}',
                })),
          },
          body: '{"text":"7"}',
        },
      );
      expect(r.status, tier).toBe(404);
      expect(errorCode(await r.json()), tier).toBe('not_found');
    }
  });

  it('the edge answers with the student (matching onnxruntime-node within 1e-5) and, escalating, with the teacher', async () => {
    const x = testRows(32);
    const m = manifest();
    const run = async (file: string) => {
      const session = await ort.InferenceSession.create(readFileSync(`${release}/${file}`));
      const out = await session.run({ input: new ort.Tensor('float32', x, [32, 784]) });
      await session.release();
      return Array.from(out.probabilities?.data as Float32Array);
    };
    const student = await run(m.artifacts[m.serving.edge as string]?.file as string);
    const teacher = await run(m.artifacts[m.serving.origin]?.file as string);
    const never = await inferBoth(
      rowsBody(x),
      { 'x-escalate': 'never', 'cache-control': 'no-store' },
      'digits',
    );
    expect(never.edge.status).toBe(200);
    probs(never.edge.response).forEach((p, i) => {
      expect(Math.abs(p - (student[i] as number)), `element ${i}`).toBeLessThanOrEqual(1e-5);
    });
    probs(never.origin.response).forEach((p, i) => {
      expect(Math.abs(p - (teacher[i] as number)), `element ${i}`).toBeLessThanOrEqual(1e-5);
    });
    // The cascade (at most EDGE_MAX_ITEMS = 8 rows, or the request goes to the origin whole): rows the student
    // is unsure of are the teacher's, the rest the student's, in order. 4 unsure rows and 4 confident ones.
    const threshold = m.threshold as number;
    const top = (r: number) => Math.max(...student.slice(r * 10, r * 10 + 10));
    const order = Array.from({ length: 32 }, (_, r) => r).sort((a, b) => top(a) - top(b));
    const picked = [...order.slice(0, 4), ...order.slice(-4)].sort((a, b) => a - b);
    expect(picked.filter((r) => top(r) < threshold).length).toBeGreaterThan(0);
    const mixed = new Float32Array(8 * 784);
    picked.forEach((r, k) => {
      mixed.set(x.subarray(r * 784, (r + 1) * 784), k * 784);
    });
    const auto = await inferBoth(rowsBody(mixed, false), { 'cache-control': 'no-store' }, 'digits');
    const items = String(auto.edge.response?.parameters?.served_by_items).split(',');
    const got = probs(auto.edge.response);
    picked.forEach((r, k) => {
      const confident = top(r) >= threshold;
      expect(items[k], `row ${r}`).toBe(confident ? 'edge' : 'origin');
      const want = (confident ? student : teacher).slice(r * 10, r * 10 + 10);
      got.slice(k * 10, k * 10 + 10).forEach((p, j) => {
        expect(Math.abs(p - (want[j] as number))).toBeLessThanOrEqual(1e-5);
      });
    });
  });

  it('the same refusals at both tiers: status, code and message', async () => {
    const jsonBody = (v: unknown): EncodedBody => ({
      body: JSON.stringify(v),
      contentType: 'application/json',
    });
    const row = new Array(784).fill(0);
    const header = new TextEncoder().encode(
      JSON.stringify({
        inputs: [
          { name: 'input', datatype: 'FP32', shape: [1, 784], parameters: { binary_data_size: 3136 } },
        ],
      }),
    );
    const short = new Uint8Array(header.length + 100);
    short.set(header);
    const cases: EncodedBody[] = [
      jsonBody({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 783], data: row.slice(1) }] }),
      jsonBody({ inputs: [{ name: 'input', datatype: 'INT32', shape: [1, 784], data: row }] }),
      jsonBody({ inputs: [{ name: 'image', datatype: 'FP32', shape: [1, 784], data: row }] }),
      jsonBody({ inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 784], data: row }] }),
      jsonBody({ inputs: [{ name: 'input', datatype: 'FP32', shape: [0, 784], data: [] }] }),
      jsonBody({
        inputs: [{ name: 'input', datatype: 'FP32', shape: [257, 784], data: new Array(257 * 784).fill(0) }],
      }),
      {
        body: `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,784],"data":[NaN${',0'.repeat(783)}]}]}`,
        contentType: 'application/json',
      },
      { body: short, contentType: 'application/octet-stream', headerLength: header.length },
      { body: short, contentType: 'application/octet-stream', headerLength: short.length + 5 },
    ];
    for (const body of cases) {
      const both = await inferBoth(body, {}, 'digits');
      expect(both.edge, String(body.body).slice(0, 100)).toEqual(both.origin);
      expect([400, 413], String(body.body).slice(0, 100)).toContain(both.edge.status);
    }
  });
});
