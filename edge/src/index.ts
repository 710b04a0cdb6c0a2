/**
 * The edge Worker's entry: the only default export (edge/src/worker.ts: HTTP through the app, the jobs queue and
 * its dead-letter queue through the consumer), and the Durable Object classes wrangler.toml binds.
 */
import { createWorker } from './worker.ts';

export default createWorker();

export { JobCoordinator } from './jobs/coordinator.ts';
export { ReviewQueue } from './review/queue.ts';
