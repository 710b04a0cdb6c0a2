import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { makeMlp } from './mlp.ts';

describe('makeMlp', () => {
  it('builds a model onnxruntime-node loads, with a dynamic batch and rows that sum to 1', async () => {
    const session = await ort.InferenceSession.create(makeMlp({ dims: [8, 4, 3] }));
    expect(session.inputNames).toEqual(['input']);
    expect(session.outputNames).toEqual(['probabilities']);
    const x = new Float32Array(5 * 8).map((_, i) => Math.sin(i));
    const out = await session.run({ input: new ort.Tensor('float32', x, [5, 8]) });
    const p = out.probabilities as ort.Tensor;
    expect(p.dims).toEqual([5, 3]);
    const data = p.data as Float32Array;
    for (let r = 0; r < 5; r++)
      expect(data.subarray(r * 3, r * 3 + 3).reduce((x, y) => x + y, 0)).toBeCloseTo(1, 5);
    await session.release();
  });

  it('is deterministic for a seed and differs across seeds', () => {
    expect(Buffer.from(makeMlp({ seed: 3 })).equals(Buffer.from(makeMlp({ seed: 3 })))).toBe(true);
    expect(Buffer.from(makeMlp({ seed: 3 })).equals(Buffer.from(makeMlp({ seed: 4 })))).toBe(false);
  });

  it('rejects bad dims naming the field', () => {
    expect(() => makeMlp({ dims: [8] })).toThrow(/dims/);
  });
});
