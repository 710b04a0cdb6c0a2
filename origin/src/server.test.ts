/**
 * The origin over real HTTP on loopback: every endpoint, JSON and binary tensors, several models and versions,
 * the text route, and bad inputs that must all get the JSON error shape (never a 500, never a crash).
 */
import { Writable } from 'node:stream';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featurizerFromManifest } from '../../shared/featurizer/index.ts';
import { seenIdsBitmap } from '../../shared/ood/index.ts';
import { appOperations } from '../../shared/openapi/contract.ts';
import type { Tensor } from '../../shared/protocol/index.ts';
import { holdTo, originContract } from '../../test/contract.ts';
import { infer } from '../test/client.ts';
import { mlpVersion, rows, textModel, twoInputModel } from '../test/fixtures.ts';
import { expectClose, seriesValue, useOrigin } from '../test/harness.ts';
import { createLogger } from './logger.ts';

const DIMS = [16, 8, 2];
const FEATURIZER = { name: 'email-hash', version: '1.0.0', config: { buckets: 256, maxLength: 32 } };
const lines: Array<Record<string, unknown>> = [];
const destination = new Writable({
  write(chunk, _enc, done) {
    for (const line of String(chunk).split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line));
    done();
  },
});
const v2 = mlpVersion('mlp', '2', DIMS, 2);
// The OOD model's training "saw" exactly the ids of this text (a 256-bucket featurizer: ids in [1, 256)).
const SEEN_TEXT = 'WIN MONEY NOW!!! click here';
const seenIds = seenIdsBitmap(featurizerFromManifest(FEATURIZER).featurize(SEEN_TEXT), 1, 256, 1);
const origin = useOrigin(
  [
    mlpVersion('mlp', '1', DIMS, 1),
    v2,
    { name: 'spam', version: '1', onnx: textModel(256, 32), featurizer: FEATURIZER, labels: ['ham', 'spam'] },
    { name: 'pair', version: '1', onnx: twoInputModel() },
    {
      name: 'spamood',
      version: '1',
      onnx: textModel(256, 32),
      featurizer: FEATURIZER,
      labels: ['ham', 'spam'],
      ood: { seenIds, minFeatures: 1, minCoverage: 0.8 },
    },
  ],
  {
    versionPolicy: 'all',
    maxBatch: 8,
    maxBodyBytes: 64 * 1024,
    echoRoute: true,
    poolId: 'eu-1',
    maxQueue: 512,
  },
  { logger: createLogger({ level: 'info', destination }), featurizerFactory: featurizerFromManifest },
);
let reference: ort.InferenceSession;

const fp32 = (r: number, seed = 1): Tensor => ({
  name: 'input',
  datatype: 'FP32',
  shape: [r, 16],
  data: rows(r, 16, seed),
});

beforeAll(async () => {
  reference = await ort.InferenceSession.create(v2.onnx);
});

afterAll(async () => {
  await reference?.release();
});

async function expected(data: Float32Array, r: number): Promise<Float32Array> {
  const out = await reference.run({ input: new ort.Tensor('float32', data, [r, 16]) });
  return out.probabilities?.data as Float32Array;
}

async function get(path: string) {
  const res = await fetch(`${origin.url}${path}`);
  const text = await res.text();
  holdTo(originContract, 'GET', `${origin.url}${path}`, res, text);
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
}

async function post(path: string, body: BodyInit | undefined, headers: Record<string, string> = {}) {
  const res = await fetch(`${origin.url}${path}`, {
    method: 'POST',
    body,
    headers,
    duplex: 'half',
  } as RequestInit);
  const text = await res.text();
  holdTo(originContract, 'POST', `${origin.url}${path}`, res, text);
  return { status: res.status, headers: res.headers, json: () => JSON.parse(text), text };
}

function expectError(
  r: { status: number; json: () => unknown },
  status: number,
  code: string,
  message?: RegExp,
) {
  expect(r.status).toBe(status);
  const body = r.json() as { error: { code: string; message: string; request_id: string } };
  expect(body.error.code).toBe(code);
  expect(body.error.request_id).toMatch(/\S/);
  if (message !== undefined) expect(body.error.message).toMatch(message);
}

describe('the OpenAPI document (origin/openapi.json)', () => {
  it('has every route of the app (echo on), and nothing the app does not serve', () => {
    const served = appOperations(origin.server.app.routes);
    const documented = originContract.operations().sort();
    expect(
      served.filter((op) => !documented.includes(op)),
      'routes missing from the document',
    ).toEqual([]);
    expect(
      documented.filter((op) => !served.includes(op)),
      'documented routes the app lacks',
    ).toEqual([]);
  });

  it('is served at /openapi.json', async () => {
    const res = await get('/openapi.json');
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ openapi: '3.1.0', info: { title: 'Origin inference API' } });
  });
});

describe('health and metadata', () => {
  it('answers live, ready and server metadata', async () => {
    expect((await get('/v2/health/live')).json()).toEqual({ live: true });
    const ready = await get('/v2/health/ready');
    expect([ready.status, ready.json()]).toEqual([200, { ready: true }]);
    expect((await get('/v2')).json()).toEqual({
      name: 'edge-origin-inference',
      version: '0.1.0',
      extensions: ['binary_tensor_data'],
    });
  });

  it('answers model metadata for the latest and for a given version', async () => {
    const latest = (await get('/v2/models/mlp')).json();
    expect(latest).toMatchObject({
      name: 'mlp',
      versions: ['1', '2'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 16] }],
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 2] }],
      parameters: { version: '2', max_batch_size: 8, text_route: false, execution_provider: 'cpu' },
    });
    expect((await get('/v2/models/mlp/versions/1')).json().parameters.version).toBe('1');
    // A text model's public signature (the edge's too): text in, probabilities + label out; raw ids documented.
    expect((await get('/v2/models/spam')).json()).toMatchObject({
      inputs: [{ name: 'text', datatype: 'BYTES', shape: [-1] }],
      outputs: [
        { name: 'probabilities', datatype: 'FP32', shape: [-1, 2] },
        { name: 'label', datatype: 'BYTES', shape: [-1] },
      ],
      parameters: {
        text_route: true,
        labels: ['ham', 'spam'],
        raw_inputs: [{ name: 'ids', datatype: 'INT32', shape: [-1, 32] }],
      },
    });
    expect((await get('/v2/models/pair')).json().inputs).toEqual([
      { name: 'x', datatype: 'FP32', shape: [-1, 4] },
      { name: 'ids', datatype: 'INT32', shape: [-1, 3] },
    ]);
  });

  it('answers model readiness', async () => {
    expect((await get('/v2/models/mlp/ready')).json()).toEqual({ name: 'mlp', version: '2', ready: true });
    expect((await get('/v2/models/mlp/versions/1/ready')).json()).toEqual({
      name: 'mlp',
      version: '1',
      ready: true,
    });
  });

  it('404s unknown models, versions and routes with the JSON error shape', async () => {
    expectError(await get('/v2/models/nope'), 404, 'model_not_found', /'nope'/);
    expectError(await get('/v2/models/mlp/versions/9'), 404, 'model_not_found', /no version '9'/);
    expectError(await get('/v2/models/nope/ready'), 404, 'model_not_found');
    expectError(await get('/v3/anything'), 404, 'not_found', /no route for GET \/v3\/anything/);
    expectError(await get('/v2/models/mlp/infer'), 404, 'not_found');
  });
});

describe('inference', () => {
  it('answers binary tensors with the model output, x-queue-depth and x-model-version', async () => {
    const t = fp32(3, 7);
    const r = await infer(`${origin.url}/v2/models/mlp/infer`, [t], { id: 'req-1' });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-queue-depth')).toMatch(/^[0-9]+$/);
    // What the edge's router learns passively: the pool and the capacity beside the queue depth.
    expect(r.headers.get('x-origin-pool')).toBe('eu-1');
    expect(r.headers.get('x-origin-capacity')).toBe('512');
    expect(r.headers.get('server-timing')).toMatch(/^compute;dur=\d+\.\d{3}$/);
    expect(r.headers.get('x-model-version')).toBe('2');
    expect(r.headers.get('content-type')).toBe('application/octet-stream');
    expect(r.response).toMatchObject({ model_name: 'mlp', model_version: '2', id: 'req-1' });
    const out = r.response?.outputs[0] as Tensor;
    expect(out.shape).toEqual([3, 2]);
    expectClose(out.data as Float32Array, await expected(t.data as Float32Array, 3));
  });

  it('answers JSON requests with JSON, on a given version', async () => {
    const t = fp32(1, 8);
    const body = {
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], data: [...(t.data as Float32Array)] }],
    };
    const r = await post('/v2/models/mlp/versions/2/infer', JSON.stringify(body), {
      'content-type': 'application/json',
    });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/application\/json/);
    const out = r.json().outputs[0];
    expect(out).toMatchObject({ name: 'probabilities', datatype: 'FP32', shape: [1, 2] });
    expectClose(out.data, await expected(t.data as Float32Array, 1));
    const v1 = await infer(`${origin.url}/v2/models/mlp/versions/1/infer`, [t]);
    expect(v1.response?.model_version).toBe('1');
    expect(v1.response?.outputs[0]?.data).not.toEqual(await expected(t.data as Float32Array, 1));
  });

  it('splits concurrent multi-row requests back to their callers', async () => {
    const sizes = [1, 3, 2, 5, 1, 4, 8, 2, 1, 6];
    const tensors = sizes.map((n, i) => fp32(n, 100 + i));
    const results = await Promise.all(tensors.map((t) => infer(`${origin.url}/v2/models/mlp/infer`, [t])));
    for (const [i, r] of results.entries()) {
      const t = tensors[i] as Tensor;
      expect(r.status).toBe(200);
      expect(r.response?.outputs[0]?.shape).toEqual([sizes[i], 2]);
      expectClose(
        r.response?.outputs[0]?.data as Float32Array,
        await expected(t.data as Float32Array, sizes[i] as number),
      );
    }
  });

  it('runs a model with an FP32 and an INT32 input', async () => {
    const x: Tensor = {
      name: 'x',
      datatype: 'FP32',
      shape: [2, 4],
      data: new Float32Array([1, 0, 0, 0, 0, 1, 0, 0]),
    };
    const ids: Tensor = {
      name: 'ids',
      datatype: 'INT32',
      shape: [2, 3],
      data: new Int32Array([1, 2, 3, 0, 0, 0]),
    };
    const r = await infer(`${origin.url}/v2/models/pair/infer`, [ids, x]);
    expect(r.status).toBe(200);
    const session = await ort.InferenceSession.create(twoInputModel());
    const want = await session.run({
      x: new ort.Tensor('float32', x.data as Float32Array, [2, 4]),
      ids: new ort.Tensor('int32', ids.data as Int32Array, [2, 3]),
    });
    await session.release();
    expect(r.response?.outputs[0]?.data).toEqual(want.probabilities?.data);
  });

  it('serves the echo route (decode and validate, no inference) when enabled', async () => {
    const r = await infer(`${origin.url}/v2/models/mlp/echo`, [fp32(2)]);
    expect(r.status).toBe(200);
    expect(r.response?.outputs[0]).toMatchObject({ shape: [2, 2], data: new Float32Array(4) });
  });
});

describe('text route', () => {
  it('classifies {text} and {texts} through the featurizer', async () => {
    const one = await post(
      '/v1/models/spam/classify',
      JSON.stringify({ text: 'WIN MONEY NOW!!! click here' }),
      {
        'content-type': 'application/json',
        'x-request-id': 'text-1',
      },
    );
    expect(one.status).toBe(200);
    expect(one.headers.get('x-served-by')).toBe('origin');
    // Its share of the model's run time, which the edge meters per tenant as origin compute.
    expect(one.headers.get('server-timing')).toMatch(/^compute;dur=\d+\.\d{3}$/);
    expect(Number(one.headers.get('server-timing')?.split('=')[1])).toBeGreaterThan(0);
    const body = one.json();
    expect(body).toMatchObject({ model: 'spam', version: '1', served_by: 'origin', request_id: 'text-1' });
    expect(body.predictions).toHaveLength(1);
    const p = body.predictions[0];
    expect(['ham', 'spam']).toContain(p.label);
    expect(p.scores.ham + p.scores.spam).toBeCloseTo(1, 5);
    expect(p.score).toBe(Math.max(p.scores.ham, p.scores.spam));

    const texts = ['hello team, minutes attached', 'WIN MONEY NOW!!! click here', ''];
    const many = await post('/v1/models/spam/versions/1/classify', JSON.stringify({ texts }), {
      'content-type': 'application/json',
    });
    expect(many.status).toBe(200);
    expect(many.json().predictions).toHaveLength(3);
    // Same text, same answer (to float rounding: a batch of 3 may take another kernel than a batch of 1).
    const again = many.json().predictions[1];
    expect(again.label).toBe(p.label);
    expect(again.scores.spam).toBeCloseTo(p.scores.spam, 6);
  });

  it('OIP infer speaks the text signature: BYTES text in JSON or binary, probabilities + label out; raw ids too', async () => {
    const texts = ['hello team, minutes attached', 'WIN MONEY NOW!!! click here', 'héllo ✓ 日本'];
    const classified = (
      await post('/v1/models/spam/classify', JSON.stringify({ texts }), {
        'content-type': 'application/json',
      })
    ).json().predictions as Array<{ label: string; scores: { ham: number; spam: number } }>;
    const text: Tensor = { name: 'text', datatype: 'BYTES', shape: [3], data: texts };
    for (const binary of [false, true]) {
      const r = await infer(`${origin.url}/v2/models/spam/infer`, [text], { binary, id: 'b1' });
      expect(r.status, String(binary)).toBe(200);
      const [probs, label] = r.response?.outputs ?? [];
      expect(probs).toMatchObject({ name: 'probabilities', datatype: 'FP32', shape: [3, 2] });
      expect(label).toEqual({
        name: 'label',
        datatype: 'BYTES',
        shape: [3],
        data: classified.map((p) => p.label),
      });
      classified.forEach((p, i) => {
        expect(((probs as Tensor).data as Float32Array)[i * 2 + 1]).toBeCloseTo(p.scores.spam, 5);
      });
    }
    // Nested [n, 1] (KServe's examples) and only the outputs asked for, in the order asked.
    const nested = await post(
      '/v2/models/spam/infer',
      JSON.stringify({
        inputs: [{ name: 'text', datatype: 'BYTES', shape: [3, 1], data: texts.map((t) => [t]) }],
        outputs: [{ name: 'label' }],
      }),
      { 'content-type': 'application/json' },
    );
    expect(nested.json().outputs).toEqual([
      { name: 'label', datatype: 'BYTES', shape: [3], data: classified.map((p) => p.label) },
    ]);
    // The raw ids (the ONNX model's own input) still work, and get the derived label too.
    const featurizer = featurizerFromManifest(FEATURIZER);
    const ids = new Int32Array(3 * 32);
    texts.forEach((t, i) => {
      ids.set(featurizer.featurize(t), i * 32);
    });
    const raw = await infer(`${origin.url}/v2/models/spam/infer`, [
      { name: 'ids', datatype: 'INT32', shape: [3, 32], data: ids },
    ]);
    expect(raw.response?.outputs.map((o) => o.name)).toEqual(['probabilities', 'label']);
    expect(raw.response?.outputs[1]?.data).toEqual(classified.map((p) => p.label));
  });

  it('with an OOD rule every prediction says its coverage, and inputs unlike training say ood: true', async () => {
    const r = await post(
      '/v1/models/spamood/classify',
      JSON.stringify({ texts: [SEEN_TEXT, 'a note about gardening tomatoes in the spring', ''] }),
      { 'content-type': 'application/json' },
    );
    expect(r.status).toBe(200);
    const [seen, other, empty] = r.json().predictions as Array<{ coverage: number; ood: boolean }>;
    expect(seen).toMatchObject({ coverage: 1, ood: false });
    expect(other?.ood).toBe(true);
    expect(other?.coverage).toBeLessThan(0.8);
    // No features: coverage 0 (never NaN), out of distribution.
    expect(empty?.coverage).toBeGreaterThanOrEqual(0);
    // OIP answers say the same per row, in parameters (OIP parameters are scalars: comma-separated).
    const oip = await post(
      '/v2/models/spamood/infer',
      JSON.stringify({
        inputs: [
          { name: 'text', datatype: 'BYTES', shape: [2], data: [SEEN_TEXT, 'a note about gardening'] },
        ],
      }),
      { 'content-type': 'application/json' },
    );
    expect(oip.json().parameters).toMatchObject({
      coverage_items: expect.stringMatching(/^1\.0000,0\./),
      ood_items: 'false,true',
    });
    expect((await get('/v2/models/spamood')).json().parameters.ood).toEqual({
      artifact: 'seen_ids',
      min_count: 1,
      min_features: 1,
      min_coverage: 0.8,
    });
  });

  it('refuses text requests that do not fit the signature with a 400 naming it', async () => {
    const json = { 'content-type': 'application/json' };
    const cases: Array<[unknown, RegExp]> = [
      [{ inputs: [{ name: 'txt', datatype: 'BYTES', shape: [1], data: ['a'] }] }, /takes one input 'text'/],
      [
        { inputs: [{ name: 'text', datatype: 'BYTES', shape: [1, 2], data: ['a', 'b'] }] },
        /one text per row/,
      ],
      [{ inputs: [{ name: 'text', datatype: 'BYTES', shape: [0], data: [] }] }, /holds no texts/],
      [
        {
          inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], data: ['a'] }],
          outputs: [{ name: 'logits' }],
        },
        /has no output 'logits'/,
      ],
      [
        { inputs: [{ name: 'text', datatype: 'BYTES', shape: [9], data: Array(9).fill('x') }] },
        /max batch of 8/,
      ],
      [{ inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], data: [7] }] }, /must be a string/],
    ];
    for (const [body, message] of cases) {
      expectError(
        await post('/v2/models/spam/infer', JSON.stringify(body), json),
        400,
        'invalid_input',
        message,
      );
    }
    // A model without a featurizer refuses BYTES as a datatype mismatch.
    expectError(
      await post(
        '/v2/models/mlp/infer',
        JSON.stringify({ inputs: [{ name: 'input', datatype: 'BYTES', shape: [1], data: ['a'] }] }),
        json,
      ),
      400,
      'invalid_input',
      /must be FP32, got BYTES/,
    );
  });

  it('featurizes a large text request on a featurizer thread, a small one inline, with the same answers', async () => {
    const model = origin.server.registry?.get('spam');
    if (model === undefined) throw new Error('spam not loaded');
    const small = 'WIN MONEY NOW!!! click here';
    const large = `${small} ${'<a href="http://x.example/">offer</a> '.repeat(200)}`;
    const classify = async (texts: string[]) => {
      const r = await post('/v1/models/spam/classify', JSON.stringify({ texts }), {
        'content-type': 'application/json',
      });
      expect(r.status).toBe(200);
      return r.json().predictions as Array<{ scores: { spam: number } }>;
    };
    const before = model.offloadedFeaturizations;
    const inline = await classify([small, small.slice(0, 10)]);
    expect(model.offloadedFeaturizations).toBe(before);
    // Over the 4,096-character default: the same texts plus a large one go to the thread.
    const threaded = await classify([small, small.slice(0, 10), large]);
    expect(model.offloadedFeaturizations).toBe(before + 1);
    expect(threaded[0]?.scores.spam).toBeCloseTo(inline[0]?.scores.spam as number, 6);
    expect(threaded[1]?.scores.spam).toBeCloseTo(inline[1]?.scores.spam as number, 6);
    expect(threaded[2]?.scores.spam).toBeCloseTo((await classify([large]))[0]?.scores.spam as number, 6);
  });

  it('answers 404 for a model without a featurizer, and 400/415 for bad bodies', async () => {
    const json = { 'content-type': 'application/json' };
    expectError(
      await post('/v1/models/mlp/classify', '{"text":"x"}', json),
      404,
      'not_found',
      /no text route.*\/v2\/models\/mlp\/infer/,
    );
    expectError(await post('/v1/models/nope/classify', '{"text":"x"}', json), 404, 'model_not_found');
    expectError(await post('/v1/models/spam/classify', '{"text":', json), 400, 'invalid_json');
    expectError(
      await post('/v1/models/spam/classify', '{"texts":[]}', json),
      400,
      'invalid_input',
      /"texts"/,
    );
    expectError(
      await post('/v1/models/spam/classify', JSON.stringify({ texts: Array(9).fill('x') }), json),
      400,
      'invalid_input',
      /max batch of 8/,
    );
    expectError(
      await post('/v1/models/spam/classify', 'text', { 'content-type': 'text/plain' }),
      415,
      'unsupported_media_type',
    );
  });
});

describe('bad inputs get the JSON error shape, never a 500', () => {
  const path = '/v2/models/mlp/infer';
  const json = { 'content-type': 'application/json' };
  const body = (input: Record<string, unknown>) =>
    JSON.stringify({
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], data: Array(16).fill(0.5), ...input }],
    });

  it('malformed JSON, wrong dtype, wrong shape, wrong length, unknown and missing inputs', async () => {
    expectError(await post(path, '{"inputs": [', json), 400, 'invalid_json');
    expectError(await post(path, '', json), 400, 'invalid_json');
    expectError(
      await post(path, body({ datatype: 'INT32', data: Array(16).fill(1) }), json),
      400,
      'invalid_input',
      /must be FP32, got INT32/,
    );
    expectError(
      await post(path, body({ shape: [1, 15], data: Array(15).fill(1) }), json),
      400,
      'invalid_input',
      /shape \[1,15\]/,
    );
    expectError(
      await post(path, body({ shape: [16], data: Array(16).fill(1) }), json),
      400,
      'invalid_input',
      /expects \[-1,16\]/,
    );
    expectError(
      await post(path, body({ data: Array(15).fill(1) }), json),
      400,
      'invalid_input',
      /holds 15 values/,
    );
    expectError(
      await post(path, body({ data: [...Array(15).fill(1), 'NaN'] }), json),
      400,
      'invalid_input',
      /data\[15\]/,
    );
    expectError(await post(path, body({ name: 'other' }), json), 400, 'invalid_input', /no input 'other'/);
    expectError(await post(path, JSON.stringify({ inputs: [] }), json), 400, 'invalid_input');
    expectError(
      await post(
        path,
        JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 4], data: Array(8).fill(0) }] }),
        json,
      ),
      400,
      'invalid_input',
    );
    const pairMissing = await post(
      '/v2/models/pair/infer',
      JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] }),
      json,
    );
    expectError(pairMissing, 400, 'invalid_input', /input 'ids' is missing/);
    expectError(
      await post(
        path,
        JSON.stringify({ inputs: JSON.parse(body({})).inputs, outputs: [{ name: 'nope' }] }),
        json,
      ),
      400,
      'invalid_input',
      /no output 'nope'/,
    );
  });

  it('NaN in binary data, a batch above the max, and bad headers', async () => {
    const nan = fp32(1);
    (nan.data as Float32Array)[3] = Number.NaN;
    const r = await infer(`${origin.url}${path}`, [nan]);
    expect(r.status).toBe(400);
    expect(r.error?.error).toMatchObject({
      code: 'invalid_input',
      message: "input 'input': element 3 is NaN or infinite",
    });
    expect(r.headers.get('x-queue-depth')).toBe('0');
    expect(r.headers.get('x-origin-capacity')).toBe('512');
    expect(r.headers.get('x-origin-pool')).toBe('eu-1');
    const big = await infer(`${origin.url}${path}`, [fp32(9)]);
    expect(big.error?.error.message).toMatch(/9 rows exceeds the max batch size of 8/);
    // Past the per-request item limit of every route and tier: 413 naming it.
    const huge = await infer(`${origin.url}${path}`, [fp32(257)]);
    expect(huge.status).toBe(413);
    expect(huge.error?.error).toMatchObject({ code: 'payload_too_large' });
    expect(huge.error?.error.message).toMatch(/257 items; .* at most 256/);
    const badLen = await post(path, body({}), { ...json, 'inference-header-content-length': 'x' });
    expectError(badLen, 400, 'invalid_header');
    expectError(
      await post(path, body({}), { ...json, 'x-deadline-ms': 'soon' }),
      400,
      'invalid_header',
      /x-deadline-ms/,
    );
    expectError(await post(path, body({}), { ...json, 'x-deadline-ms': '0' }), 504, 'deadline_exceeded');
    expectError(await post(path, body({}), { ...json, 'x-priority': '7' }), 400, 'invalid_input', /priority/);
    expectError(
      await post(path, body({}), { ...json, 'x-priority': 'high' }),
      400,
      'invalid_header',
      /priority/,
    );
    expect((await post(path, body({}), { ...json, 'x-priority': '1' })).status).toBe(200);
  });

  it('413 for a huge body (declared or chunked) and 415 for a wrong content type', async () => {
    const huge = new Uint8Array(65 * 1024);
    expectError(
      await post(path, huge, { 'content-type': 'application/octet-stream' }),
      413,
      'payload_too_large',
      /65536 bytes/,
    );
    const chunked = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 20; i++) controller.enqueue(new Uint8Array(4096));
        controller.close();
      },
    });
    expectError(await post(path, chunked, json), 413, 'payload_too_large');
    expectError(await post(path, body({}), { 'content-type': 'text/plain' }), 415, 'unsupported_media_type');
    expectError(
      await post(path, body({}), { 'content-type': 'application/octet-stream' }),
      415,
      'unsupported_media_type',
    );
    // No content type at all is taken as JSON (fetch sets text/plain for strings, so send bytes).
    expect((await post(path, new TextEncoder().encode(body({})), {})).status).toBe(200);
  });

  it('unknown model or version on infer is a 404, and the server is still healthy', async () => {
    expectError(await post('/v2/models/nope/infer', '{}', json), 404, 'model_not_found');
    expectError(await post('/v2/models/mlp/versions/3/infer', '{}', json), 404, 'model_not_found');
    expect((await get('/v2/health/ready')).status).toBe(200);
    expect(lines.some((l) => l.status === 500 || l.level === 'error')).toBe(false);
  });
});

describe('observability', () => {
  it('propagates x-request-id and the traceparent trace id into responses and logs', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const r = await post('/v2/models/mlp/infer', '{bad', {
      'content-type': 'application/json',
      'x-request-id': 'abc-123',
      traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
    });
    expect(r.headers.get('x-request-id')).toBe('abc-123');
    expect(r.json().error.request_id).toBe('abc-123');
    expect(lines.find((l) => l.request_id === 'abc-123')).toMatchObject({
      trace_id: traceId,
      status: 400,
      code: 'invalid_json',
    });
    const generated = await get('/v2/health/live');
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const unsafe = await fetch(`${origin.url}/v2`, {
      headers: { 'x-request-id': 'has spaces and "quotes"' },
    });
    expect(unsafe.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('exposes the Triton-like metrics per model and version', async () => {
    const before = await get('/metrics');
    expect(before.headers.get('content-type')).toMatch(/text\/plain/);
    await infer(`${origin.url}/v2/models/mlp/versions/1/infer`, [fp32(3)]);
    await post('/v2/models/mlp/versions/1/infer', '{bad', { 'content-type': 'application/json' });
    const text = (await get('/metrics')).text;
    const labels = '{model="mlp",version="1"}';
    for (const name of ['nv_inference_request_success', 'nv_inference_count', 'nv_inference_exec_count']) {
      expect(
        (seriesValue(text, `${name}${labels}`) ?? 0) - (seriesValue(before.text, `${name}${labels}`) ?? 0),
      ).toBe(name === 'nv_inference_count' ? 3 : 1);
    }
    expect(
      seriesValue(text, 'nv_inference_request_failure{model="mlp",version="1",reason="invalid_json"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(seriesValue(text, `nv_inference_pending_request_count${labels}`)).toBe(0);
    expect(seriesValue(text, `nv_model_ready${labels}`)).toBe(1);
    for (const h of ['request', 'queue', 'compute']) {
      expect(seriesValue(text, `nv_inference_${h}_duration_seconds_count${labels}`)).toBeGreaterThan(0);
    }
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
  });
});

describe('inline runs', () => {
  // The decision must not hang on this machine's timing: a limit no run reaches (on) and 0 (off). The estimate
  // itself is pinned by origin/src/runner/pool.test.ts.
  const on = useOrigin([v2], { maxBatch: 8, inlineMaxMs: 1000 });
  const off = useOrigin([v2], { maxBatch: 8, inlineMaxMs: 0 });
  const inlineCount = async (url: string) => {
    const text = await (await fetch(`${url}/metrics`)).text();
    return seriesValue(text, 'nv_inference_exec_inline_count{model="mlp",version="2"}') ?? 0;
  };

  it('runs a lone request on the event loop and counts it, with the same answer; 0 turns it off', async () => {
    const input = fp32(1, 31);
    const want = await reference.run({
      input: new ort.Tensor('float32', input.data as Float32Array, [1, 16]),
    });
    for (const o of [on, off]) {
      const before = await inlineCount(o.url);
      // Sequential requests: each is alone in flight.
      for (let i = 0; i < 3; i++) {
        const r = await infer(`${o.url}/v2/models/mlp/infer`, [input]);
        expect(r.status).toBe(200);
        expectClose(r.response?.outputs[0]?.data as Float32Array, want.probabilities?.data as Float32Array);
      }
      expect((await inlineCount(o.url)) - before).toBe(o === on ? 3 : 0);
    }
  });
});
