/**
 * One model name, one OIP signature: the edge (workerd, the embedded student) and the origin (Node, the real
 * teacher) describe `spam` with the same inputs and outputs, and answer the same requests (JSON, nested, the
 * binary extension with BYTES in and out, the raw ids, requested outputs, and the same refusals) the same way.
 */
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
import { errorCode } from '../helpers.ts';

let stack: Stack;
let key: string;

beforeAll(async () => {
  stack = await startStack({ sharedState: 'test' });
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
  return { status: res.status, headers: res.headers, bytes: new Uint8Array(await res.arrayBuffer()) };
}

const json = (bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes));

async function inferBoth(
  body: EncodedBody,
  headers: Record<string, string> = {},
): Promise<Record<Tier, { status: number; response?: InferResponse; code?: string }>> {
  const out = {} as Record<Tier, { status: number; response?: InferResponse; code?: string }>;
  for (const tier of ['edge', 'origin'] as const) {
    const r = await send(tier, 'POST', '/v2/models/spam/infer', body, headers);
    out[tier] =
      r.status === 200
        ? {
            status: 200,
            response: decodeInferResponse(r.bytes, r.headers.get('inference-header-content-length')),
          }
        : { status: r.status, code: errorCode(json(r.bytes)) as string };
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
