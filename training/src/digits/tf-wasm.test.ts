import { beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../shared/random/index.ts';
import { tf, useWasmBackend } from './tf-wasm.ts';

/** d/dfilter of sum(relu(conv(x, filter) + bias)^2) on the current backend, via the fused op tfjs-layers uses. */
function filterGrad(
  x: number[],
  xShape: number[],
  w: number[],
  wShape: number[],
  pad: 'valid' | 'same',
): number[] {
  return tf.tidy(() => {
    const xt = tf.tensor4d(x, xShape as [number, number, number, number]);
    const bias = tf.fill([wShape[3] as number], 0.1);
    const f = (filter: tf.Tensor) =>
      tf.fused
        .conv2d({ x: xt, filter: filter as tf.Tensor4D, strides: 1, pad, bias, activation: 'relu' })
        .square()
        .sum();
    return Array.from(
      tf
        .grad(f)(tf.tensor4d(w, wShape as [number, number, number, number]))
        .dataSync(),
    );
  });
}

function randoms(n: number, seed: number): number[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => rand() * 2 - 1);
}

describe('wasm Conv2DBackpropFilter', () => {
  beforeAll(async () => {
    await useWasmBackend();
  });

  for (const [pad, kernel] of [
    ['valid', 3],
    ['same', 3],
    ['same', 4],
  ] as const) {
    it(`matches the CPU backend's gradient (${pad}, ${kernel}x${kernel}, batch 3, 2 -> 4 channels)`, async () => {
      const xShape = [3, 9, 8, 2];
      const wShape = [kernel, kernel, 2, 4];
      const x = randoms(3 * 9 * 8 * 2, 1);
      const w = randoms(kernel * kernel * 8, 2);
      await tf.setBackend('wasm');
      const wasm = filterGrad(x, xShape, w, wShape, pad);
      await tf.setBackend('cpu');
      const cpu = filterGrad(x, xShape, w, wShape, pad);
      await tf.setBackend('wasm');
      const scale = Math.max(...cpu.map(Math.abs));
      expect(scale).toBeGreaterThan(1);
      for (let i = 0; i < cpu.length; i++)
        expect(Math.abs((wasm[i] as number) - (cpu[i] as number))).toBeLessThan(1e-5 * scale);
    });
  }

  it('throws on what it does not implement (stride 2) instead of returning a wrong gradient', () => {
    const x = tf.ones([1, 6, 6, 1]) as tf.Tensor4D;
    expect(() =>
      tf.grad((w: tf.Tensor) => tf.conv2d(x, w as tf.Tensor4D, 2, 'valid').sum())(tf.ones([2, 2, 1, 1])),
    ).toThrow(/stride 1/);
  });
});
