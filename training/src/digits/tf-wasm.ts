/**
 * tfjs on its wasm backend (XNNPACK, SIMD, one thread in Node), with the one kernel it lacks for training a CNN.
 *
 * Measured on the 2-core build machine (LeNet-like CNN, batch 64): tfjs's pure-JS CPU backend needs ~7 minutes
 * per epoch of 7,000 images (its convolution gradients are naive loops); the wasm backend ~5 s, but it registers
 * no `Conv2DBackpropFilter` ("Kernel 'Conv2DBackpropFilter' not registered for backend 'wasm'"), so gradients
 * of conv2d (plain and fused) fail. `registerConv2DBackpropFilter` fills that gap from kernels wasm does have:
 *
 *   dW[kh, kw, c, f] = sum over b, oh, ow of x[b, oh + kh, ow + kw, c] * dy[b, oh, ow, f]    (stride 1, dilation 1)
 *
 * is a 'valid' convolution of x seen as [C, H, W, B] (batch as channels) with dy seen as a filter
 * [OH, OW, B, F]; its output [C, KH, KW, F] transposed to [KH, KW, C, F] is the filter gradient. 'same' padding
 * pads x first. Only what the digits models use is supported (NHWC, stride 1, dilation 1); anything else throws.
 * tf-wasm.test.ts checks the kernel against the CPU backend's gradient.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

type KernelArgs = Parameters<tf.KernelFunc>[0];

interface FilterGradAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | string;
  dataFormat: 'NHWC' | 'NCHW';
  /** Absent: tfjs's filter gradient is only defined for dilation 1. */
  dilations?: number | [number, number];
  dimRoundingMode?: string;
  filterShape: [number, number, number, number];
}

const isOne = (v: number | number[] | undefined) =>
  v === undefined || (Array.isArray(v) ? v.every((d) => d === 1) : v === 1);

function wasmKernel(name: string): tf.KernelFunc {
  const kernel = tf.getKernel(name, 'wasm');
  if (kernel === undefined) throw new Error(`tfjs wasm backend has no '${name}' kernel`);
  return kernel.kernelFunc;
}

/** Registers `Conv2DBackpropFilter` for the wasm backend (once; a no-op when one is registered). */
export function registerConv2DBackpropFilter(): void {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm') !== undefined) return;
  const conv2d = wasmKernel('Conv2D');
  const transpose = wasmKernel('Transpose');
  const padV2 = wasmKernel('PadV2');
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo => {
      const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
      const a = attrs as unknown as FilterGradAttrs;
      if (a.dataFormat !== 'NHWC' || !isOne(a.strides) || !isOne(a.dilations)) {
        throw new Error(
          `Conv2DBackpropFilter (wasm, digits): only NHWC, stride 1, dilation 1 are supported, got ` +
            `${a.dataFormat}, strides ${a.strides}, dilations ${a.dilations}`,
        );
      }
      const run = (k: tf.KernelFunc, kInputs: Record<string, tf.TensorInfo>, kAttrs: object) =>
        k({ inputs: kInputs, backend, attrs: kAttrs as tf.NamedAttrMap }) as tf.TensorInfo;
      const temps: tf.TensorInfo[] = [];
      let xin = x;
      if (a.pad === 'same') {
        const [kh, kw] = a.filterShape;
        const top = Math.floor((kh - 1) / 2);
        const left = Math.floor((kw - 1) / 2);
        const paddings = [
          [0, 0],
          [top, kh - 1 - top],
          [left, kw - 1 - left],
          [0, 0],
        ];
        xin = run(padV2, { x }, { paddings, constantValue: 0 });
        temps.push(xin);
      } else if (a.pad !== 'valid') {
        throw new Error(`Conv2DBackpropFilter (wasm, digits): pad must be 'valid' or 'same', got ${a.pad}`);
      }
      const xT = run(transpose, { x: xin }, { perm: [3, 1, 2, 0] }); // [C, H, W, B]
      const dyT = run(transpose, { x: dy }, { perm: [1, 2, 0, 3] }); // [OH, OW, B, F]
      const g = run(
        conv2d,
        { x: xT, filter: dyT },
        { strides: 1, pad: 'valid', dataFormat: 'NHWC', dilations: 1 },
      );
      const out = run(transpose, { x: g }, { perm: [1, 2, 0, 3] }); // [KH, KW, C, F]
      temps.push(xT, dyT, g);
      for (const t of temps) (backend as tf.KernelBackend).disposeData(t.dataId);
      return out;
    },
  });
}

/** Switches tfjs to the wasm backend and registers the missing kernel. Idempotent. */
export async function useWasmBackend(): Promise<void> {
  if (tf.getBackend() !== 'wasm') {
    if (!(await tf.setBackend('wasm'))) throw new Error('tfjs: the wasm backend failed to initialize');
  }
  await tf.ready();
  registerConv2DBackpropFilter();
}

export { tf };
