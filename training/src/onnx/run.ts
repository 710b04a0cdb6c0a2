/**
 * Runs an exported model on onnxruntime-node or onnxruntime-web (the wasm backend the edge uses, loaded from
 * node_modules in Node; one thread) over row-major int32 ids, in chunks. Used by verification and evaluation.
 */
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web/wasm';
import { INPUT_NAME, OUTPUT_NAME } from './bag-model.ts';

export type Backend = 'onnxruntime-node' | 'onnxruntime-web';

export interface ModelRunner {
  readonly backend: Backend;
  /** Probabilities, row-major [n, classes]. */
  run(ids: Int32Array, n: number): Promise<Float32Array>;
  release(): Promise<void>;
}

/** One session's run over a chunk of rows: ids [m, maxLength] -> probabilities [m, classes]. */
type RunChunk = (ids: Int32Array, m: number) => Promise<Float32Array>;

export async function openModel(
  bytes: Uint8Array,
  backend: Backend,
  maxLength: number,
  chunk = 256,
): Promise<ModelRunner> {
  let runChunk: RunChunk;
  let release: () => Promise<void>;
  if (backend === 'onnxruntime-node') {
    const session = await ortNode.InferenceSession.create(bytes, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
    });
    runChunk = async (ids, m) => {
      const out = await session.run({ [INPUT_NAME]: new ortNode.Tensor('int32', ids, [m, maxLength]) });
      return Float32Array.from((out[OUTPUT_NAME] as ortNode.Tensor).data as Float32Array);
    };
    release = () => session.release();
  } else {
    ortWeb.env.wasm.numThreads = 1;
    const session = await ortWeb.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
    runChunk = async (ids, m) => {
      // onnxruntime-web copies into wasm memory; give it a standalone array rather than a view.
      const out = await session.run({
        [INPUT_NAME]: new ortWeb.Tensor('int32', ids.slice(), [m, maxLength]),
      });
      return Float32Array.from((out[OUTPUT_NAME] as ortWeb.Tensor).data as Float32Array);
    };
    release = () => session.release();
  }
  return {
    backend,
    async run(ids, n) {
      const parts: Float32Array[] = [];
      for (let s = 0; s < n; s += chunk) {
        const m = Math.min(chunk, n - s);
        parts.push(await runChunk(ids.subarray(s * maxLength, (s + m) * maxLength), m));
      }
      return concat(parts);
    },
    release,
  };
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
