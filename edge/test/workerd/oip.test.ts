import { describe, expect, it } from 'vitest';
import { decodeInferResponse, encodeInferRequest } from '../../../shared/protocol/codec.ts';
import { originLog, setup, type TinyReleaseOptions, unique } from './harness.ts';

/** setup() plus GET and POST with the test's key. */
async function oipSetup(release: TinyReleaseOptions = {}) {
  const { k, env, t, origin } = await setup({ key: { models: ['*'] }, release });
  const get = (path: string, auth = true) =>
    t.call(
      new Request(`https://edge.test${path}`, { headers: auth ? { authorization: `Bearer ${k.key}` } : {} }),
      env,
    );
  const post = (
    path: string,
    body: BodyInit,
    headers: Record<string, string> = { 'content-type': 'application/json' },
  ) =>
    t.call(
      new Request(`https://edge.test${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${k.key}`, ...headers },
        body,
      }),
      env,
    );
  return { k, env, t, origin, get, post };
}

type InferJson = {
  model_name: string;
  model_version: string;
  id?: string;
  parameters: { served_by: string };
  outputs: Array<{ name: string; datatype: string; shape: number[]; data: Array<number | string> }>;
};

describe('OIP v2 at the edge (whole app, loopback origin)', () => {
  it('health live and ready need no key; server metadata', async () => {
    const { get } = await oipSetup();
    expect(await (await get('/v2/health/live', false)).json()).toEqual({ live: true });
    expect(await (await get('/v2/health/ready', false)).json()).toEqual({ ready: true });
    expect(await (await get('/v2', false)).json()).toMatchObject({
      name: 'spam-edge',
      extensions: ['binary_tensor_data'],
    });
  });

  it('ready is 503 not_ready when an embedded student is refused', async () => {
    const { get } = await oipSetup({ wrongHash: true });
    const res = await get('/v2/health/ready', false);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_ready');
  });

  it('model metadata and readiness are answered at the edge for its model; need a key', async () => {
    const { get, origin } = await oipSetup();
    expect((await get('/v2/models/spam', false)).status).toBe(401);
    const meta = await get('/v2/models/spam');
    expect(meta.headers.get('x-served-by')).toBe('edge');
    expect(await meta.json()).toMatchObject({
      name: 'spam',
      versions: ['tiny-1'],
      inputs: [{ name: 'text', datatype: 'BYTES', shape: [-1] }],
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 2] }, { name: 'label' }],
    });
    expect((await get('/v2/models/spam/versions/tiny-1')).status).toBe(200);
    expect(await (await get('/v2/models/spam/ready')).json()).toEqual({ name: 'spam', ready: true });
    expect((await originLog(origin)).length).toBe(0);
  });

  it('metadata for another model or version is proxied to the origin, signed', async () => {
    const { get, origin } = await oipSetup();
    const res = await get('/v2/models/spam/versions/v7');
    expect(res.headers.get('x-served-by')).toBe('origin');
    expect(await res.json()).toMatchObject({ origin: true, path: '/v2/models/spam/versions/v7' });
    await get('/v2/models/other/ready');
    const log = await originLog(origin);
    expect(log.map((r) => [r.method, r.path, r.signature])).toEqual([
      ['GET', '/v2/models/spam/versions/v7', 'ok'],
      ['GET', '/v2/models/other/ready', 'ok'],
    ]);
  });

  it('infer with a BYTES text input is answered at the edge as OIP tensors', async () => {
    const { post, origin } = await oipSetup();
    const body = {
      id: 'r1',
      inputs: [
        { name: 'text', datatype: 'BYTES', shape: [2], data: [`spam ${unique()}`, `ham ${unique()}`] },
      ],
    };
    const res = await post('/v2/models/spam/infer', JSON.stringify(body));
    expect(res.status).toBe(200);
    expect(res.headers.get('x-served-by')).toBe('edge');
    const out = (await res.json()) as InferJson;
    expect(out).toMatchObject({
      model_name: 'spam',
      model_version: 'tiny-1',
      id: 'r1',
      parameters: { served_by: 'edge' },
    });
    const [probs, labels] = out.outputs;
    expect(probs).toMatchObject({ name: 'probabilities', datatype: 'FP32', shape: [2, 2] });
    expect(probs?.data[1]).toBeGreaterThan(0.99);
    expect(probs?.data[2]).toBeGreaterThan(0.99);
    expect(labels).toEqual({ name: 'label', datatype: 'BYTES', shape: [2], data: ['spam', 'ham'] });
    expect((await originLog(origin)).length).toBe(0);
  });

  it('the unconfident items of an OIP text request escalate through the origin text API and come back as OIP, per item', async () => {
    const { post, origin } = await oipSetup();
    const texts = [`spam ${unique()}`, `hello ${unique()}`];
    const body = { inputs: [{ name: 'text', datatype: 'BYTES', shape: [2], data: texts }] };
    const res = await post('/v2/models/spam/infer', JSON.stringify(body));
    expect(res.headers.get('x-served-by')).toBe('origin');
    const out = (await res.json()) as InferJson;
    expect(out.model_version).toBe('origin-v1');
    expect(out.outputs[1]?.data).toEqual(['spam', 'ham']);
    expect(out.parameters).toMatchObject({
      served_by: 'origin',
      served_by_items: 'edge,origin',
      served_by_counts: 'edge=1, origin=1',
    });
    const [req] = await originLog(origin);
    expect(req?.path).toBe('/v1/models/spam/classify');
    expect(JSON.parse(req?.body ?? '{}').texts).toEqual([texts[1]]);
  });

  it('infer with tensor inputs is proxied to the origin as is (JSON and binary extension)', async () => {
    const { post, origin } = await oipSetup();
    const json = JSON.stringify({
      inputs: [{ name: 'ids', datatype: 'INT32', shape: [1, 4], data: [1, 2, 3, 0] }],
    });
    const res = await post('/v2/models/spam/infer', json);
    expect(res.headers.get('x-served-by')).toBe('origin');
    const header = new TextEncoder().encode(
      JSON.stringify({
        inputs: [{ name: 'ids', datatype: 'INT32', shape: [1, 1], parameters: { binary_data_size: 4 } }],
      }),
    );
    const binary = new Uint8Array(header.length + 4);
    binary.set(header);
    binary.set([1, 0, 0, 0], header.length);
    await post('/v2/models/spam/infer', binary, {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(header.length),
    });
    const log = await originLog(origin);
    expect(log).toHaveLength(2);
    expect(log[0]?.body).toBe(json);
    expect(log[1]?.headers['inference-header-content-length']).toBe(String(header.length));
    expect(log.every((r) => r.signature === 'ok')).toBe(true);
  });

  it('a BYTES text request in the binary extension is answered at the edge, with binary outputs when asked', async () => {
    const { post, origin } = await oipSetup();
    const texts = [`spam ${unique()}`, `ham ${unique()}`];
    const encoded = encodeInferRequest({
      id: 'bin-1',
      inputs: [{ name: 'text', datatype: 'BYTES', shape: [2], data: texts }],
      binaryInputs: true,
      outputs: [
        { name: 'label', binary: true },
        { name: 'probabilities', binary: false },
      ],
    });
    const res = await post('/v2/models/spam/infer', encoded.body as Uint8Array, {
      'content-type': encoded.contentType,
      'inference-header-content-length': String(encoded.headerLength),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-served-by')).toBe('edge');
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    const out = decodeInferResponse(
      new Uint8Array(await res.arrayBuffer()),
      res.headers.get('inference-header-content-length'),
    );
    expect(out).toMatchObject({ model_name: 'spam', model_version: 'tiny-1', id: 'bin-1' });
    expect(out.outputs.map((o) => o.name)).toEqual(['label', 'probabilities']);
    expect(out.outputs[0]?.data).toEqual(['spam', 'ham']);
    expect(out.outputs[1]).toMatchObject({ datatype: 'FP32', shape: [2, 2] });
    // Malformed binary BYTES is the client's 400 at the edge, never proxied.
    const header = new TextEncoder().encode(
      JSON.stringify({
        inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 6 } }],
      }),
    );
    const bad = new Uint8Array(header.length + 6);
    bad.set(header);
    bad.set([9, 0, 0, 0, 0x61, 0x62], header.length);
    const refused = await post('/v2/models/spam/infer', bad, {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(header.length),
    });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(
      /claims 9 bytes/,
    );
    // A BYTES input under another name is refused as the origin would: one signature.
    const misnamed = await post(
      '/v2/models/spam/infer',
      JSON.stringify({ inputs: [{ name: 'txt', datatype: 'BYTES', shape: [1], data: ['a'] }] }),
    );
    expect(misnamed.status).toBe(400);
    expect(await originLog(origin)).toHaveLength(0);
  });

  it('honours requested outputs: only those, in the order asked; an unknown one is 400 naming it', async () => {
    const { post } = await oipSetup();
    const request = (outputs: unknown) =>
      post(
        '/v2/models/spam/infer',
        JSON.stringify({
          inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], data: [`spam ${unique()}`] }],
          outputs,
        }),
      );
    const one = (await (await request([{ name: 'label' }])).json()) as InferJson;
    expect(one.outputs.map((o) => o.name)).toEqual(['label']);
    const both = (await (await request([{ name: 'label' }, { name: 'probabilities' }])).json()) as InferJson;
    expect(both.outputs.map((o) => o.name)).toEqual(['label', 'probabilities']);
    const bad = await request([{ name: 'logits' }]);
    expect(bad.status).toBe(400);
    const err = ((await bad.json()) as { error: { code: string; message: string } }).error;
    expect(err).toMatchObject({ code: 'invalid_input' });
    expect(err.message).toMatch(/no output 'logits'/);
  });

  it('accepts nested BYTES data in row-major order (as KServe examples send), checked against the shape', async () => {
    const { post } = await oipSetup();
    const send = (shape: number[], data: unknown) =>
      post(
        '/v2/models/spam/infer',
        JSON.stringify({ inputs: [{ name: 'text', datatype: 'BYTES', shape, data }] }),
      );
    const a = `spam ${unique()}`;
    const b = `hello ${unique()}`;
    const nested = await send([2, 1], [[a], [b]]);
    expect(nested.status).toBe(200);
    const flat = await send([2], [a, b]);
    const labels = (r: InferJson) => r.outputs.find((o) => o.name === 'label')?.data;
    expect(labels((await nested.json()) as InferJson)).toEqual(labels((await flat.json()) as InferJson));
    for (const [shape, data] of [
      [
        [2, 1],
        [[a], [b, a]],
      ],
      [
        [2, 1],
        [[a], [7]],
      ],
      [[3], [[a], [b]]],
    ] as const) {
      const res = await send([...shape], data);
      expect(res.status, JSON.stringify(data)).toBe(400);
    }
  });

  it('a BYTES request of more than 256 strings is 413 payload_too_large naming the limit', async () => {
    const { post, origin } = await oipSetup();
    for (const n of [257, 40_000]) {
      const data = Array.from({ length: n }, () => '');
      const res = await post(
        '/v2/models/spam/infer',
        JSON.stringify({ inputs: [{ name: 'text', datatype: 'BYTES', shape: [n], data }] }),
      );
      expect(res.status).toBe(413);
      const err = ((await res.json()) as { error: { code: string; message: string } }).error;
      expect(err.code).toBe('payload_too_large');
      expect(err.message).toMatch(/at most 256/);
    }
    expect(await originLog(origin)).toHaveLength(0);
  });

  it('a malformed OIP body is a 400 invalid_input at the edge', async () => {
    const { post } = await oipSetup();
    for (const body of [
      '{"inputs":[]}',
      '{"inputs":[{"name":"text","datatype":"BYTES","shape":[2],"data":["only one"]}]}',
      '{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":[7]}]}',
    ]) {
      const res = await post('/v2/models/spam/infer', body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_input');
    }
  });
});
