/**
 * Tensor releases at the edge (no featurizer): OIP infer with tensor inputs, JSON and binary, answered by the
 * student in onnxruntime-web with the same cascade as text, per row; validated with the origin's own `prepare`
 * (shared/protocol), so refusals read the same at both tiers (test/e2e/signature.test.ts compares them live).
 */
import { describe, expect, inject, it } from 'vitest';
import { parseManifest } from '../../../shared/manifest/index.ts';
import { decodeInferResponse, encodeInferRequest } from '../../../shared/protocol/codec.ts';
import { LINEAR_WIDTH, linearProbabilities, STUDENT_W } from '../../../training/src/import/fixtures.ts';
import type { EdgeRelease } from '../../src/model/edge-model.ts';
import { apiKey, behave, keysJson, newOrigins, originLog, setup, testApp, testEnv } from './harness.ts';

type InferJson = {
  model_name: string;
  model_version: string;
  parameters: Record<string, string>;
  outputs: Array<{ name: string; datatype: string; shape: number[]; data: number[] }>;
};

type ErrorJson = { error: { code: string; message: string } };

/** A fresh tiny tensor release world, with POST helpers for JSON and binary OIP bodies. */
async function tensorSetup() {
  const { k, env, t, origin } = await setup({
    key: { models: ['*'] },
    release: { tensor: true },
    app: { stats: { flushMs: 0 } },
  });
  const post = (path: string, body: BodyInit, headers: Record<string, string>) =>
    t.call(
      new Request(`https://edge.test${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${k.key}`, ...headers },
        body,
      }),
      env,
    );
  const postJson = (body: unknown, path = '/v2/models/spam/infer', headers: Record<string, string> = {}) =>
    post(path, typeof body === 'string' ? body : JSON.stringify(body), {
      'content-type': 'application/json',
      ...headers,
    });
  const get = (path: string) =>
    t.call(new Request(`https://edge.test${path}`, { headers: { authorization: `Bearer ${k.key}` } }), env);
  return { k, env, t, origin, post, postJson, get };
}

/** An `x` input of the given rows (each row 3 floats), JSON form. */
const xInput = (rows: number[][]) => ({
  inputs: [{ name: 'x', datatype: 'FP32', shape: [rows.length, 3], data: rows.flat() }],
});

/** A value no other test uses, so cache keys stay this test's own. */
const salt = () => 1 + Math.random();

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

describe('tensor releases at the edge (whole app, tiny tensor student in onnxruntime-web, loopback origin)', () => {
  it('describes the public signature: the inputs and the cascade output, no text route', async () => {
    const { get, postJson, origin } = await tensorSetup();
    const meta = await get('/v2/models/spam');
    expect(meta.headers.get('x-served-by')).toBe('edge');
    expect(await meta.json()).toMatchObject({
      name: 'spam',
      versions: ['tiny-tensor-1'],
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3] }],
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 2] }],
      parameters: { text_route: false, cascade_output: 'probabilities', labels: ['ham', 'spam'] },
    });
    const text = await postJson({ text: 'hello' }, '/v1/models/spam/classify');
    expect(text.status).toBe(404);
    const err = (await text.json()) as ErrorJson;
    expect(err.error.code).toBe('not_found');
    expect(err.error.message).toMatch(
      /no featurizer, so it has no text route; use POST \/v2\/models\/spam\/infer/,
    );
    expect(await originLog(origin)).toHaveLength(0);
  });

  it('answers confident rows at the edge, JSON in and out, with the student probabilities', async () => {
    const { postJson, origin } = await tensorSetup();
    const s = 3 + salt();
    const res = await postJson({
      id: 'j1',
      ...xInput([
        [s, 0, 0],
        [0, s, 0],
      ]),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-served-by')).toBe('edge');
    const out = (await res.json()) as InferJson;
    expect(out).toMatchObject({ model_name: 'spam', model_version: 'tiny-tensor-1', id: 'j1' });
    expect(out.parameters).toMatchObject({ served_by: 'edge', served_by_items: 'edge,edge' });
    const [probs] = out.outputs;
    expect(probs).toMatchObject({ name: 'probabilities', datatype: 'FP32', shape: [2, 2] });
    const p = sigmoid(2 * s);
    const expected = [1 - p, p, p, 1 - p];
    probs?.data.forEach((v, i) => {
      expect(v).toBeCloseTo(expected[i] as number, 5);
    });
    expect(await originLog(origin)).toHaveLength(0);
  });

  it('escalates only the unsure rows, as one binary OIP request for the cascade output, merged in order', async () => {
    const { postJson, origin } = await tensorSetup();
    const z = salt();
    const rows = [
      [4, 0, 0],
      [0, 0, z], // unsure at the edge; the teacher says spam (a + c > b)
      [0, 4, 0],
      [0, 0.3 * z, 0.1], // ham at 0.65-0.77: unsure; the teacher says ham
    ];
    const res = await postJson(xInput(rows));
    expect(res.status).toBe(200);
    expect(res.headers.get('x-served-by')).toBe('origin');
    expect(res.headers.get('x-escalation-reason')).toBe('low_confidence');
    const out = (await res.json()) as InferJson;
    expect(out.parameters).toMatchObject({
      served_by_items: 'edge,origin,edge,origin',
      served_by_counts: 'edge=2, origin=2',
      // One pool (ORIGIN_URLS): "default", per escalated row.
      origin_pool_items: ',default,,default',
    });
    expect(res.headers.get('x-origin-pool')).toBe('default');
    const labels = [];
    const data = out.outputs[0]?.data as number[];
    for (let r = 0; r < 4; r++) labels.push((data[2 * r + 1] as number) > 0.5 ? 'spam' : 'ham');
    expect(labels).toEqual(['spam', 'spam', 'ham', 'ham']);
    expect(data[3]).toBeCloseTo(0.96, 5); // the origin's answer for row 1
    const [req] = await originLog(origin);
    expect(req?.path).toBe('/v2/models/spam/infer');
    expect(req?.signature).toBe('ok');
    const headerLength = Number(req?.headers['inference-header-content-length']);
    const header = JSON.parse((req?.body ?? '').slice(0, headerLength));
    expect(header.inputs).toEqual([
      { name: 'x', datatype: 'FP32', shape: [2, 3], parameters: { binary_data_size: 24 } },
    ]);
    expect(header.outputs).toEqual([{ name: 'probabilities', parameters: { binary_data: true } }]);
  });

  it('speaks the binary extension both ways, and a row cached from JSON is a hit in binary', async () => {
    const { post, postJson, origin } = await tensorSetup();
    const s = 3 + salt();
    const first = await postJson(xInput([[s, 0, 0]]));
    expect(first.headers.get('x-cache')).toBe('MISS');
    const encoded = encodeInferRequest({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 3], data: new Float32Array([s, 0, 0, 0, s, 0]) }],
      outputs: [{ name: 'probabilities', binary: true }],
    });
    const res = await post('/v2/models/spam/infer', encoded.body as Uint8Array, {
      'content-type': encoded.contentType,
      'inference-header-content-length': String(encoded.headerLength),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    // Row 0 from the cache (stored by the JSON request), row 1 from the student.
    expect(res.headers.get('x-served-by-counts')).toBe('cache=1, edge=1');
    const out = decodeInferResponse(
      new Uint8Array(await res.arrayBuffer()),
      res.headers.get('inference-header-content-length'),
    );
    expect(out.outputs[0]).toMatchObject({ name: 'probabilities', datatype: 'FP32', shape: [2, 2] });
    const data = Array.from(out.outputs[0]?.data as Float32Array);
    expect(data[1]).toBeGreaterThan(0.99);
    expect(data[2]).toBeGreaterThan(0.99);
    expect(await originLog(origin)).toHaveLength(0);
  });

  it('degrades the unsure rows when the origin fails; the confident rows stay edge answers', async () => {
    const { postJson, origin } = await tensorSetup();
    await behave(origin, { default: { status: 503 } });
    const res = await postJson(
      xInput([
        [4, 0, 0],
        [0, 0, salt()],
      ]),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('x-served-by')).toBe('edge-degraded');
    const out = (await res.json()) as InferJson;
    expect(out.parameters.served_by_items).toBe('edge,edge-degraded');
    expect(out.outputs[0]?.data[3]).toBeCloseTo(0.5, 5);
  });

  it('outputs only the teacher has are the origin`s to answer: the request is proxied as is', async () => {
    const { postJson, origin } = await tensorSetup();
    const body = { ...xInput([[4, 0, 0]]), outputs: [{ name: 'logits' }] };
    const res = await postJson(body);
    expect(res.headers.get('x-served-by')).toBe('origin');
    const [req] = await originLog(origin);
    expect(JSON.parse(req?.body as string)).toEqual(body);
  });

  it('refuses bad tensors with the same 400/413 JSON errors as the origin, never reaching it', async () => {
    const { post, postJson, origin } = await tensorSetup();
    const cases: Array<[string, unknown, number, RegExp]> = [
      [
        'wrong width',
        { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] },
        400,
        /input 'x' has shape \[1,4\], the model expects \[-1,3\]/,
      ],
      [
        'wrong datatype',
        { inputs: [{ name: 'x', datatype: 'INT32', shape: [1, 3], data: [1, 2, 3] }] },
        400,
        /input 'x' must be FP32, got INT32/,
      ],
      [
        'unknown input',
        { inputs: [{ name: 'y', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] },
        400,
        /model 'spam' has no input 'y'/,
      ],
      [
        'data shorter than shape',
        { inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 3], data: [1, 2, 3] }] },
        400,
        /x/,
      ],
      ['NaN', '{"inputs":[{"name":"x","datatype":"FP32","shape":[1,3],"data":[1,NaN,3]}]}', 400, /./],
      [
        'empty batch',
        { inputs: [{ name: 'x', datatype: 'FP32', shape: [0, 3], data: [] }] },
        400,
        /shape \[0,3\]/,
      ],
      [
        'too many rows',
        { inputs: [{ name: 'x', datatype: 'FP32', shape: [257, 3], data: new Array(771).fill(0) }] },
        413,
        /at most 256/,
      ],
      ['no inputs', { inputs: [] }, 400, /./],
    ];
    for (const [name, body, status, message] of cases) {
      const res = await postJson(body);
      expect(res.status, name).toBe(status);
      const err = (await res.json()) as ErrorJson;
      expect(err.error.code, name).toBe(status === 413 ? 'payload_too_large' : err.error.code);
      expect(err.error.message, name).toMatch(message);
    }
    // Binary: a header length past the body, and binary data shorter than the shape.
    const header = new TextEncoder().encode(
      JSON.stringify({
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], parameters: { binary_data_size: 8 } }],
      }),
    );
    const short = new Uint8Array(header.length + 8);
    short.set(header);
    const binary = { 'content-type': 'application/octet-stream' };
    const r1 = await post('/v2/models/spam/infer', short, {
      ...binary,
      'inference-header-content-length': String(short.length + 10),
    });
    expect(r1.status).toBe(400);
    const r2 = await post('/v2/models/spam/infer', short, {
      ...binary,
      'inference-header-content-length': String(header.length),
    });
    expect(r2.status).toBe(400);
    expect(((await r2.json()) as ErrorJson).error.code).toBe('invalid_input');
    expect(await originLog(origin)).toHaveLength(0);
  });
});

describe('tensor datatypes at the edge (tiny student over INT64, INT32, UINT8, BOOL and FP16 inputs)', () => {
  /** spam probability of a row: sigmoid(2 * sum of its five inputs). */
  const spamP = (sum: number) => 1 / (1 + Math.exp(-2 * sum));

  it('answers binary requests with each datatype converted as ORT expects; FP16 in JSON is refused', async () => {
    const { k, env, t, origin } = await setup({
      key: { models: ['*'] },
      release: { tensor: 'mixed' },
      app: { stats: { flushMs: 0 } },
    });
    const post = (body: BodyInit, headers: Record<string, string>) =>
      t.call(
        new Request('https://edge.test/v2/models/spam/infer', {
          method: 'POST',
          headers: { authorization: `Bearer ${k.key}`, 'x-escalate': 'never', ...headers },
          body,
        }),
        env,
      );
    const json = {
      inputs: [
        { name: 'i64', datatype: 'INT64', shape: [2, 1], data: [2, -3] },
        { name: 'i32', datatype: 'INT32', shape: [2, 1], data: [0, 0] },
        { name: 'u8', datatype: 'UINT8', shape: [2, 1], data: [1, 0] },
        { name: 'flag', datatype: 'BOOL', shape: [2, 1], data: [true, false] },
        { name: 'half', datatype: 'FP16', shape: [2, 1], data: [0.5, 0] },
      ],
    };
    // FP16 travels as binary tensor data only (the shared codec's rule, the origin's too): in JSON it is a 400.
    const res = await post(JSON.stringify(json), { 'content-type': 'application/json' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorJson).error.message).toBe(
      "tensor 'half': FP16 data must be sent as binary tensor data",
    );

    const encoded = encodeInferRequest({
      inputs: [
        { name: 'i64', datatype: 'INT64', shape: [2, 1], data: BigInt64Array.of(2n, -3n) },
        { name: 'i32', datatype: 'INT32', shape: [2, 1], data: Int32Array.of(0, 0) },
        { name: 'u8', datatype: 'UINT8', shape: [2, 1], data: Uint8Array.of(1, 0) },
        { name: 'flag', datatype: 'BOOL', shape: [2, 1], data: Uint8Array.of(1, 0) },
        // 0x3800 is 0.5 in IEEE half precision.
        { name: 'half', datatype: 'FP16', shape: [2, 1], data: Uint16Array.of(0x3800, 0) },
      ],
      binaryOutput: true,
    });
    const bin = await post(encoded.body as Uint8Array, {
      'content-type': encoded.contentType,
      'inference-header-content-length': String(encoded.headerLength),
      'cache-control': 'no-store',
    });
    expect(bin.status).toBe(200);
    const decoded = decodeInferResponse(
      new Uint8Array(await bin.arrayBuffer()),
      bin.headers.get('inference-header-content-length'),
    );
    const probs = Array.from((decoded.outputs[0]?.data as Float32Array | undefined) ?? []);
    expect(probs[1]).toBeCloseTo(spamP(4.5), 5);
    expect(probs[3]).toBeCloseTo(spamP(-3), 5);

    // A datatype other than the signature's is the origin's 400, here too.
    const wrong = { inputs: [{ name: 'i64', datatype: 'INT32', shape: [1, 1], data: [1] }] };
    const refused = await post(JSON.stringify(wrong), { 'content-type': 'application/json' });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as ErrorJson).error.message).toMatch(
      /input 'i64' must be INT64, got INT32/,
    );
    expect(await originLog(origin)).toHaveLength(0);
  });
});

describe('a release made by npm run import-model (generated models, imported in globalSetup)', () => {
  it('is answered at the edge with its student, row by row, the unsure rows escalated', async () => {
    const provided = JSON.parse(inject('importedRelease')) as { manifest: unknown; student: string };
    const release: EdgeRelease = {
      manifest: parseManifest(provided.manifest),
      student: Uint8Array.from(atob(provided.student), (c) => c.charCodeAt(0)),
    };
    const k = await apiKey({ models: ['linear'] });
    const [origin] = await newOrigins(1);
    const env = testEnv({ API_KEYS: keysJson(k), ORIGIN_URLS: origin as string });
    const t = testApp({ releases: () => [release], stats: { flushMs: 0 } });
    const rows = [
      [3, 0, -3, 0], // confidently 'a' for the student
      [0.01, 0.02, 0.01, -0.01], // near the boundary: unsure
    ];
    const res = await t.call(
      new Request('https://edge.test/v2/models/linear/infer', {
        method: 'POST',
        headers: {
          authorization: `Bearer ${k.key}`,
          'content-type': 'application/json',
          'cache-control': 'no-store',
        },
        body: JSON.stringify({
          inputs: [{ name: 'x', datatype: 'FP32', shape: [2, LINEAR_WIDTH], data: rows.flat() }],
        }),
      }),
      env,
    );
    expect(res.status).toBe(200);
    const out = (await res.json()) as InferJson;
    expect(out.model_version).toBe(release.manifest.version);
    const items = out.parameters.served_by_items?.split(',');
    expect(items?.[0]).toBe('edge');
    const p0 = linearProbabilities(STUDENT_W, rows[0] as number[]);
    p0.forEach((p, j) => {
      expect(out.outputs[0]?.data[j]).toBeCloseTo(p, 5);
    });
    // The second row is below the release's threshold: the origin (here a fake answering the tiny tensor
    // signature only) was asked for exactly that row, and its failure to answer degrades it.
    expect(Math.max(...linearProbabilities(STUDENT_W, rows[1] as number[]))).toBeLessThan(
      release.manifest.threshold as number,
    );
    expect(items?.[1]).toMatch(/^(origin|edge-degraded)$/);
    const [req] = await originLog(origin as string);
    expect(req?.path).toBe('/v2/models/linear/infer');
  });
});
