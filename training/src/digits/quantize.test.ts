import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../shared/random/index.ts';
import { dequantizeMlp, quantizeColumns } from './quantize.ts';

describe('quantizeColumns', () => {
  const [fanIn, fanOut] = [20, 4];
  const rand = mulberry32(5);
  // Column 3 is all zeros; column 1 is 100x larger than column 0.
  const w = Float32Array.from({ length: fanIn * fanOut }, (_, i) => {
    const j = i % fanOut;
    return j === 3 ? 0 : (rand() - 0.5) * (j === 1 ? 100 : 1);
  });
  const b = Float32Array.of(0.1, -0.2, 0.3, 0.4);
  const q = quantizeColumns({ fanIn, fanOut, w, b });

  it('uses one scale per output column: each non-zero column reaches +-127', () => {
    for (let j = 0; j < 3; j++) {
      let max = 0;
      for (let i = 0; i < fanIn; i++) max = Math.max(max, Math.abs(q.q[i * fanOut + j] as number));
      expect(max).toBe(127);
    }
    expect(q.scale[3]).toBe(0);
    expect((q.scale[1] as number) / (q.scale[0] as number)).toBeGreaterThan(30);
    expect(q.b).toEqual(b);
  });

  it('dequantizes to within half a step of every weight, as float32 q * scale', () => {
    const [d] = dequantizeMlp({ dense: [q] }).dense;
    for (let i = 0; i < w.length; i++) {
      const s = q.scale[i % fanOut] as number;
      expect(Math.abs((d?.w[i] as number) - (w[i] as number))).toBeLessThanOrEqual(s / 2 + 1e-7);
      expect(d?.w[i]).toBe(Math.fround((q.q[i] as number) * s));
    }
  });

  it('rejects weights of the wrong length', () => {
    expect(() =>
      quantizeColumns({ fanIn: 3, fanOut: 2, w: new Float32Array(5), b: new Float32Array(2) }),
    ).toThrow(/\[3, 2\] needs 6/);
  });
});
