/**
 * The edge Worker's entry: the only default export (edge/src/worker.ts: HTTP through the app, the jobs queue and
 * its dead-letter queue through the consumer), and the Durable Object classes wrangler.toml binds (exports.ts; named
 * here so that `wrangler types` types their bindings).
 *
 * The default sessions load on first use. model/startup.ts can create them in the global scope instead (bench:edge
 * measures that build beside this one); it is not enabled here yet: with it, a wrangler dev start hung twice in
 * CI-sized runs (issue #29's note).
 */
import { createWorker } from './worker.ts';

export default createWorker();

export { JobCoordinator, ReviewQueue } from './exports.ts';
