/**
 * A runner worker thread: owns one ONNX Runtime session and runs batches posted to it, one at a time. The main
 * thread never calls session.run (it is synchronous and would block the event loop).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { RunReply, RunRequest, ValueInfo, WorkerInit, WorkerMessage } from './messages.ts';
import { runFeeds, sessionOptions } from './session.ts';

const CUDA_LIBS = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'];

function valueInfo(meta: readonly ort.InferenceSession.ValueMetadata[]): ValueInfo[] {
  return meta.map((m) => ({
    name: m.name,
    type: m.isTensor ? m.type : 'non-tensor',
    shape: m.isTensor ? m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) : [],
  }));
}

async function createSession(init: WorkerInit): Promise<{
  session: ort.InferenceSession;
  provider: 'cpu' | 'cuda';
  fallbackReason?: string;
}> {
  const options = sessionOptions(init.intraOpThreads);
  let fallbackReason: string | undefined;
  if (init.executionProvider !== 'cpu') {
    const missing =
      init.ortLibDir === undefined
        ? CUDA_LIBS
        : CUDA_LIBS.filter((f) => !existsSync(join(init.ortLibDir as string, f)));
    if (missing.length > 0) {
      fallbackReason = `CUDA provider libraries not found next to libonnxruntime.so.1 (${init.ortLibDir ?? 'unknown dir'}): ${missing.join(', ')}`;
    } else {
      try {
        const session = await ort.InferenceSession.create(init.modelBytes, {
          ...options,
          executionProviders: ['cuda'],
        });
        return { session, provider: 'cuda' };
      } catch (err) {
        fallbackReason = `CUDA execution provider failed to start: ${(err as Error).message}`;
      }
    }
  }
  // 'cuda' is strict (a GPU node must not quietly serve from its CPU); 'auto' falls back.
  if (init.executionProvider === 'cuda' && fallbackReason !== undefined) {
    throw new Error(`ORIGIN_EXECUTION_PROVIDER=cuda: ${fallbackReason} (set auto to fall back to CPU)`);
  }
  const session = await ort.InferenceSession.create(init.modelBytes, {
    ...options,
    executionProviders: ['cpu'],
  });
  return fallbackReason === undefined
    ? { session, provider: 'cpu' }
    : { session, provider: 'cpu', fallbackReason };
}

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('runner/worker.ts must run as a worker thread');
  const post = (msg: WorkerMessage, transfer: ArrayBuffer[] = []) => port.postMessage(msg, transfer);
  let created: Awaited<ReturnType<typeof createSession>>;
  try {
    created = await createSession(workerData as WorkerInit);
  } catch (err) {
    post({ type: 'init-error', message: (err as Error).message });
    return;
  }
  const { session } = created;
  const ready: WorkerMessage = {
    type: 'ready',
    provider: created.provider,
    inputs: valueInfo(session.inputMetadata),
    outputs: valueInfo(session.outputMetadata),
  };
  if (created.fallbackReason !== undefined) ready.fallbackReason = created.fallbackReason;
  post(ready);

  port.on('message', async (msg: RunRequest) => {
    let reply: RunReply;
    const transfer = new Set<ArrayBuffer>();
    try {
      const { outputs, computeMs } = await runFeeds(ort, session, msg.feeds);
      for (const o of outputs) transfer.add(o.data.buffer as ArrayBuffer);
      reply = { type: 'result', id: msg.id, outputs, computeMs };
    } catch (err) {
      reply = { type: 'error', id: msg.id, message: (err as Error).message };
    }
    post(reply, [...transfer]);
  });
}

await main();
