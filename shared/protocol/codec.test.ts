import { describe, expect, it } from 'vitest';
import { InferenceError } from '../errors/index.ts';
import {
  decodeInferRequest,
  decodeInferResponse,
  encodeInferRequest,
  encodeInferResponse,
  parseHeaderLength,
  stringsFromJson,
  typedFromJson,
} from './codec.ts';
import { InferRequestHeader, quickInferRequestHeader } from './oip.ts';

const enc = new TextEncoder();
const json = (v: unknown) => enc.encode(JSON.stringify(v));

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof InferenceError) return `${err.status} ${err.code}: ${err.message}`;
    throw err;
  }
  throw new Error('expected an InferenceError');
}

describe('decodeInferRequest (JSON)', () => {
  it('decodes flat and nested data into typed arrays', () => {
    const r = decodeInferRequest(
      json({
        id: 'r1',
        inputs: [
          {
            name: 'x',
            datatype: 'FP32',
            shape: [2, 2],
            data: [
              [1, 2],
              [3, 4.5],
            ],
          },
          { name: 'ids', datatype: 'INT32', shape: [1, 3], data: [7, -8, 9] },
          { name: 'big', datatype: 'INT64', shape: [1], data: [2 ** 40] },
          { name: 'flag', datatype: 'BOOL', shape: [2], data: [true, false] },
        ],
        outputs: [{ name: 'probabilities', parameters: { binary_data: true } }],
      }),
    );
    expect(r.id).toBe('r1');
    expect(r.inputs.map((t) => t.data)).toEqual([
      new Float32Array([1, 2, 3, 4.5]),
      new Int32Array([7, -8, 9]),
      new BigInt64Array([2n ** 40n]),
      new Uint8Array([1, 0]),
    ]);
    expect(r.outputs).toEqual([{ name: 'probabilities', binary: true }]);
    expect(r.binaryOutput).toBe(false);
  });

  it('names the problem for every malformed request', () => {
    const one = (input: Record<string, unknown>) =>
      json({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], ...input }] });
    expect(codeOf(() => decodeInferRequest(enc.encode('{"inputs": [')))).toMatch(/^400 invalid_json/);
    expect(codeOf(() => decodeInferRequest(new Uint8Array([0xff, 0xfe])))).toMatch(
      /^400 invalid_json: .*UTF-8/,
    );
    expect(codeOf(() => decodeInferRequest(json([1, 2])))).toMatch(/^400 invalid_input/);
    expect(codeOf(() => decodeInferRequest(json({ inputs: [] })))).toMatch(/inputs/);
    expect(codeOf(() => decodeInferRequest(one({ datatype: 'FP33', data: [1, 2] })))).toMatch(
      /inputs\.0\.datatype/,
    );
    expect(codeOf(() => decodeInferRequest(one({ shape: [1, -2], data: [1, 2] })))).toMatch(
      /inputs\.0\.shape\.1/,
    );
    expect(codeOf(() => decodeInferRequest(one({ data: [1, 2, 3] })))).toMatch(/more than the 2 values/);
    expect(codeOf(() => decodeInferRequest(one({ data: [1] })))).toMatch(
      /holds 1 values but shape \[1,2\] needs 2/,
    );
    expect(codeOf(() => decodeInferRequest(one({ data: [1, 'NaN'] })))).toMatch(
      /data\[1\] must be a number, got string/,
    );
    expect(codeOf(() => decodeInferRequest(one({ data: [1, null] })))).toMatch(/got null/);
    expect(codeOf(() => decodeInferRequest(one({})))).toMatch(/data is missing/);
    expect(codeOf(() => decodeInferRequest(one({ datatype: 'INT32', data: [1, 2.5] })))).toMatch(
      /not a INT32 integer/,
    );
    expect(codeOf(() => decodeInferRequest(one({ datatype: 'INT8', data: [1, 300] })))).toMatch(
      /300 is not a INT8/,
    );
    expect(codeOf(() => decodeInferRequest(one({ datatype: 'BYTES', data: ['a', 2] })))).toMatch(
      /BYTES data\[1\] must be a string/,
    );
    expect(codeOf(() => decodeInferRequest(one({ datatype: 'FP16', data: [1, 2] })))).toMatch(
      /FP16 data must be sent as binary/,
    );
    expect(codeOf(() => decodeInferRequest(one({ shape: [65536, 65536], data: [] })))).toMatch(/more than/);
    expect(
      codeOf(() =>
        decodeInferRequest(
          json({
            inputs: [
              { name: 'x', datatype: 'FP32', shape: [1], data: [1] },
              { name: 'x', datatype: 'FP32', shape: [1], data: [1] },
            ],
          }),
        ),
      ),
    ).toMatch(/more than once/);
    expect(
      codeOf(() =>
        decodeInferRequest(
          json({
            inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }],
            parameters: { binary_data_output: 'yes' },
          }),
        ),
      ),
    ).toMatch(/binary_data_output must be a boolean/);
  });
});

describe('binary tensor extension', () => {
  const x = new Float32Array([0.5, -1, 2, 3]);
  const ids = new Int32Array([1, 2, 3]);

  it('round-trips a request, whatever the alignment of the binary section', () => {
    for (const id of ['a', 'ab', 'abc', 'abcd']) {
      const e = encodeInferRequest({
        id,
        inputs: [
          { name: 'x', datatype: 'FP32', shape: [2, 2], data: x },
          { name: 'ids', datatype: 'INT32', shape: [1, 3], data: ids },
        ],
        binaryOutput: true,
      });
      expect(e.contentType).toBe('application/octet-stream');
      const r = decodeInferRequest(e.body as Uint8Array, { headerLength: String(e.headerLength) });
      expect(r.id).toBe(id);
      expect(r.inputs[0]?.data).toEqual(x);
      expect(r.inputs[1]?.data).toEqual(ids);
      expect(r.binaryOutput).toBe(true);
    }
  });

  it('sends JSON when binary inputs are off', () => {
    const e = encodeInferRequest({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [4], data: x }],
      binaryInputs: false,
    });
    expect(e.headerLength).toBeUndefined();
    expect(JSON.parse(e.body as string).inputs[0].data).toEqual([0.5, -1, 2, 3]);
  });

  it('refuses sizes that do not add up, bad header lengths and NaN', () => {
    const e = encodeInferRequest({ inputs: [{ name: 'x', datatype: 'FP32', shape: [4], data: x }] });
    const body = e.body as Uint8Array;
    const h = String(e.headerLength);
    expect(codeOf(() => decodeInferRequest(body, { headerLength: 'abc' }))).toMatch(/^400 invalid_header/);
    expect(codeOf(() => decodeInferRequest(body, { headerLength: String(body.length + 1) }))).toMatch(
      /outside the body/,
    );
    const extra = new Uint8Array(body.length + 4);
    extra.set(body);
    expect(codeOf(() => decodeInferRequest(extra, { headerLength: h }))).toMatch(
      /4 bytes of binary data that no input claims/,
    );
    expect(codeOf(() => decodeInferRequest(body.subarray(0, body.length - 4), { headerLength: h }))).toMatch(
      /runs past the end/,
    );
    const wrongShape = encodeInferRequest({ inputs: [{ name: 'x', datatype: 'FP32', shape: [4], data: x }] });
    const header = JSON.parse(
      new TextDecoder().decode((wrongShape.body as Uint8Array).subarray(0, wrongShape.headerLength)),
    );
    header.inputs[0].shape = [5];
    const hb = enc.encode(JSON.stringify(header));
    const tampered = new Uint8Array(hb.length + 16);
    tampered.set(hb);
    expect(codeOf(() => decodeInferRequest(tampered, { headerLength: String(hb.length) }))).toMatch(
      /binary_data_size 16 does not match shape \[5\] of FP32 \(20 bytes\)/,
    );
    expect(
      codeOf(() =>
        decodeInferRequest(
          json({
            inputs: [{ name: 'x', datatype: 'FP32', shape: [1], parameters: { binary_data_size: 4 } }],
          }),
        ),
      ),
    ).toMatch(/no Inference-Header-Content-Length/);
    const nan = encodeInferRequest({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [4], data: new Float32Array([1, Number.NaN, 2, 3]) }],
    });
    expect(
      codeOf(() => decodeInferRequest(nan.body as Uint8Array, { headerLength: String(nan.headerLength) })),
    ).toMatch(/input 'x': element 1 is NaN or infinite/);
    const inf = encodeInferRequest({
      inputs: [
        { name: 'x', datatype: 'FP64', shape: [1], data: new Float64Array([Number.NEGATIVE_INFINITY]) },
      ],
    });
    expect(
      codeOf(() => decodeInferRequest(inf.body as Uint8Array, { headerLength: String(inf.headerLength) })),
    ).toMatch(/NaN or infinite/);
    expect(
      decodeInferRequest(nan.body as Uint8Array, {
        headerLength: String(nan.headerLength),
        allowNonFinite: true,
      }).inputs,
    ).toHaveLength(1);
  });

  it('encodes responses as JSON or binary per output and decodes them back', () => {
    const probs = new Float32Array([0.25, 0.75]);
    const mixed = encodeInferResponse({
      model_name: 'm',
      model_version: '1',
      id: 'r',
      outputs: [
        { name: 'p', datatype: 'FP32', shape: [1, 2], data: probs, binary: true },
        { name: 'n', datatype: 'INT64', shape: [1], data: new BigInt64Array([5n]) },
        { name: 'b', datatype: 'BOOL', shape: [1], data: new Uint8Array([1]) },
      ],
    });
    const header = JSON.parse(
      new TextDecoder().decode((mixed.body as Uint8Array).subarray(0, mixed.headerLength)),
    );
    expect(header.outputs[0].parameters).toEqual({ binary_data_size: 8 });
    expect(header.outputs[1].data).toEqual([5]);
    expect(header.outputs[2].data).toEqual([true]);
    const back = decodeInferResponse(mixed.body as Uint8Array, String(mixed.headerLength));
    expect(back).toMatchObject({ model_name: 'm', model_version: '1', id: 'r' });
    expect(back.outputs.map((o) => o.data)).toEqual([probs, new BigInt64Array([5n]), new Uint8Array([1])]);

    const plain = encodeInferResponse({
      model_name: 'm',
      outputs: [{ name: 'p', datatype: 'FP32', shape: [2], data: probs }],
    });
    expect(plain.contentType).toBe('application/json');
    expect(JSON.parse(plain.body as string)).toEqual({
      model_name: 'm',
      outputs: [{ name: 'p', datatype: 'FP32', shape: [2], data: [0.25, 0.75] }],
    });
  });
});

describe('helpers', () => {
  it('parseHeaderLength accepts absent and in-range values only', () => {
    expect(parseHeaderLength(undefined, 10)).toBeUndefined();
    expect(parseHeaderLength(null, 10)).toBeUndefined();
    expect(parseHeaderLength('8', 10)).toBe(8);
    expect(() => parseHeaderLength('-1', 10)).toThrow(/integer/);
    expect(() => parseHeaderLength('0', 10)).toThrow(/outside/);
  });
  it('typedFromJson refuses non-arrays', () => {
    expect(() => typedFromJson('x', 'FP32', [1], 3)).toThrow(/must be an array/);
  });
});

describe('quickInferRequestHeader', () => {
  it('returns exactly what the zod schema returns for valid headers, and never accepts what it refuses', () => {
    const samples: unknown[] = [
      { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: [1, 2] }] },
      {
        id: 'a',
        parameters: { binary_data_output: true },
        extra: 1,
        inputs: [{ name: 'x', datatype: 'INT32', shape: [], parameters: { binary_data_size: 4 } }],
      },
      {
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1] }],
        outputs: [{ name: 'y' }, { name: 'z', parameters: { binary_data: true } }],
      },
      { inputs: [{ name: 'x', datatype: 'FP32', shape: [1], unknown: true }], outputs: [] },
      { inputs: [] },
      { inputs: [{ name: '', datatype: 'FP32', shape: [1] }] },
      { inputs: [{ name: 'x', datatype: 'FP8', shape: [1] }] },
      { inputs: [{ name: 'x', datatype: 'FP32', shape: [1.5] }] },
      { inputs: [{ name: 'x', datatype: 'FP32', shape: [-1] }] },
      { inputs: [{ name: 'x', datatype: 'FP32', shape: '1' }] },
      { inputs: [{ name: 'x', datatype: 'FP32', shape: [1], parameters: [] }] },
      { id: 5, inputs: [{ name: 'x', datatype: 'FP32', shape: [1] }] },
      { parameters: null, inputs: [{ name: 'x', datatype: 'FP32', shape: [1] }] },
      { inputs: [{ name: 'x', datatype: 'FP32', shape: [1] }], outputs: [{ name: 3 }] },
      { inputs: [{ name: 'x', datatype: 'FP32', shape: [1] }], outputs: {} },
      [],
      null,
      'x',
    ];
    let accepted = 0;
    for (const s of samples) {
      const quick = quickInferRequestHeader(s);
      const zod = InferRequestHeader.safeParse(s);
      if (quick !== undefined) {
        accepted++;
        expect(zod.success).toBe(true);
        expect(quick).toEqual(zod.data);
      }
    }
    expect(accepted).toBe(4);
  });

  it('writes an FP16 output asked for as JSON as numbers (the half floats decoded), not a 500', () => {
    const halves = new Uint16Array([0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x3555]);
    const encoded = encodeInferResponse({
      model_name: 'm',
      outputs: [{ name: 'y', datatype: 'FP16', shape: [6], data: halves, binary: false }],
    });
    const json = JSON.parse(encoded.body as string) as { outputs: Array<{ data: number[] }> };
    expect(json.outputs[0]?.data.slice(0, 5)).toEqual([1, -2, 0.5, 65504, 2 ** -24]);
    expect(json.outputs[0]?.data[5]).toBeCloseTo(1 / 3, 3);
  });

  it('reads BYTES JSON data flat or nested (row-major), checked against the shape', () => {
    expect(stringsFromJson('t', [2, 1], [['a'], ['b']])).toEqual(['a', 'b']);
    expect(stringsFromJson('t', [2], ['a', 'b'])).toEqual(['a', 'b']);
    expect(() => stringsFromJson('t', [3], [['a'], ['b']])).toThrow(/holds 2 values but shape \[3\] needs 3/);
    expect(() => stringsFromJson('t', [1], ['a', 'b'])).toThrow(/more than the 1 values/);
    expect(() => stringsFromJson('t', [1], [7])).toThrow(/must be a string/);
    expect(() => stringsFromJson('t', [1], 'a')).toThrow(/must be an array/);
  });
});

describe('BYTES tensors (JSON and the binary extension)', () => {
  const le32 = (n: number) => new Uint8Array(new Uint32Array([n]).buffer);
  const cat = (...parts: Uint8Array[]) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  };
  /** A binary request whose one BYTES input `text` carries `data` and claims `size` bytes and `shape`. */
  const binaryRequest = (data: Uint8Array, size = data.length, shape = [1]) => {
    const header = enc.encode(
      JSON.stringify({
        inputs: [{ name: 'text', datatype: 'BYTES', shape, parameters: { binary_data_size: size } }],
      }),
    );
    return { body: cat(header, data), headerLength: String(header.length) };
  };

  it('decodes JSON strings flat or nested and binary elements (4-byte LE length + UTF-8), the same texts', () => {
    const texts = ['hello', '', 'héllo ✓ 日本 🎉', 'a'.repeat(300)];
    const fromJson = decodeInferRequest(
      json({ inputs: [{ name: 'text', datatype: 'BYTES', shape: [4, 1], data: texts.map((t) => [t]) }] }),
    );
    expect(fromJson.inputs[0]).toEqual({ name: 'text', datatype: 'BYTES', shape: [4, 1], data: texts });
    const e = encodeInferRequest({ inputs: [{ name: 'text', datatype: 'BYTES', shape: [4], data: texts }] });
    const header = JSON.parse(new TextDecoder().decode((e.body as Uint8Array).subarray(0, e.headerLength)));
    const expectedSize = texts.reduce((n, t) => n + 4 + enc.encode(t).length, 0);
    expect(header.inputs[0].parameters).toEqual({ binary_data_size: expectedSize });
    const fromBinary = decodeInferRequest(e.body as Uint8Array, { headerLength: String(e.headerLength) });
    expect(fromBinary.inputs[0]?.data).toEqual(texts);
  });

  it('refuses malformed binary BYTES with a 400 naming the problem, never a crash', () => {
    const bad: Array<[ReturnType<typeof binaryRequest>, RegExp]> = [
      [binaryRequest(cat(le32(10), enc.encode('short'))), /claims 10 bytes, past the end/],
      [binaryRequest(cat(le32(2), new Uint8Array([0xc3, 0x28]))), /not valid UTF-8/],
      [binaryRequest(cat(le32(1), enc.encode('ab'))), /take 5 bytes/],
      [binaryRequest(cat(le32(0)), 4, [2]), /cannot hold 2 BYTES elements/],
      [binaryRequest(new Uint8Array(2), 2), /cannot hold 1 BYTES elements/],
      [binaryRequest(cat(le32(0xffffffff), enc.encode('x'))), /claims 4294967295 bytes/],
      [binaryRequest(cat(le32(1), enc.encode('a')), 9), /runs past the end of the body/],
      [binaryRequest(cat(le32(0)), 4, [65536, 65536]), /more than/],
    ];
    for (const [r, message] of bad) {
      expect(codeOf(() => decodeInferRequest(r.body, { headerLength: r.headerLength }))).toMatch(message);
    }
  });

  it('encodes BYTES outputs as JSON strings or binary and decodes them back', () => {
    const labels = ['ham', 'spam', 'é'];
    for (const binary of [false, true]) {
      const e = encodeInferResponse({
        model_name: 'm',
        outputs: [{ name: 'label', datatype: 'BYTES', shape: [3], data: labels, binary }],
      });
      expect(e.contentType).toBe(binary ? 'application/octet-stream' : 'application/json');
      const back = decodeInferResponse(
        typeof e.body === 'string' ? enc.encode(e.body) : e.body,
        e.headerLength === undefined ? undefined : String(e.headerLength),
      );
      expect(back.outputs[0]).toEqual({ name: 'label', datatype: 'BYTES', shape: [3], data: labels });
    }
  });
});
