/**
 * A featurizer worker thread: builds the manifest's featurizer (shared/featurizer, as main.ts wires it inline) and
 * turns each posted batch of texts into row-major ids, so that a large text request never holds the event loop.
 */
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { featurizerFromManifest } from '../../../shared/featurizer/index.ts';
import type { FeaturizeReply, FeaturizeRequest, FeaturizeWorkerInit } from './messages.ts';

const port = parentPort;
if (port === null) throw new Error('featurize-worker.ts must run as a worker thread');
const init = workerData as FeaturizeWorkerInit;

// This thread featurizes the large requests (job rows, long messages); the event loop answers short interactive
// requests inline. On a busy core the scheduler should favour the latter: nice 10 for this thread only (Linux nice
// values are per thread; libuv's setpriority(0) is the calling thread). Refused (other OSes, containers): ignored.
try {
  setPriority(10);
} catch {
  // stays at the process's priority
}

try {
  const featurizer = featurizerFromManifest(init.ref);
  port.postMessage({ type: 'ready', width: featurizer.config.maxLength } satisfies FeaturizeReply);
  port.on('message', (msg: FeaturizeRequest) => {
    let reply: FeaturizeReply;
    try {
      const ids = featurizer.featurizeBatch(msg.texts);
      reply = { type: 'ids', id: msg.id, ids };
      port.postMessage(reply, [ids.buffer as ArrayBuffer]);
    } catch (err) {
      reply = { type: 'error', id: msg.id, message: (err as Error).message };
      port.postMessage(reply);
    }
  });
} catch (err) {
  port.postMessage({ type: 'init-error', message: (err as Error).message } satisfies FeaturizeReply);
}
