/**
 * What the runner worker and the pool's inline session share: the session options (sequential, one inter-op
 * thread, full graph optimisation) and one run from wire tensors to wire tensors.
 */
import type * as Ort from 'onnxruntime-node';
import type { OrtType, WireTensor } from './messages.ts';

export function sessionOptions(intraOpThreads: number): Ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
}

/** Runs `feeds` through `session`: every output as a wire tensor, and the time inside session.run in ms. */
export async function runFeeds(
  ort: typeof Ort,
  session: Ort.InferenceSession,
  feeds: readonly WireTensor[],
): Promise<{ outputs: WireTensor[]; computeMs: number }> {
  const input: Record<string, Ort.Tensor> = {};
  for (const t of feeds) input[t.name] = new ort.Tensor(t.type, t.data as never, t.dims);
  const start = performance.now();
  const results = await session.run(input);
  const computeMs = performance.now() - start;
  const outputs: WireTensor[] = [];
  for (const name of session.outputNames) {
    const t = results[name] as Ort.Tensor;
    outputs.push({ name, type: t.type as OrtType, dims: [...t.dims], data: t.data as WireTensor['data'] });
  }
  return { outputs, computeMs };
}
