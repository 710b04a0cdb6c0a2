/**
 * The edge Worker's entry: the only default export (edge/src/worker.ts: HTTP through the app, the jobs queue and
 * its dead-letter queue through the consumer), and the Durable Object classes wrangler.toml binds (exports.ts; named
 * here so that `wrangler types` types their bindings).
 *
 * Before anything is exported, the isolate's start-up (model/startup.ts) creates the default release's session of
 * every embedded model and runs it once, in the global scope: the first request finds them ready.
 */
import { edgeReleases } from './model/release.ts';
import { warmDefaultReleases } from './model/startup.ts';
import { createWorker } from './worker.ts';

const startup = await warmDefaultReleases(edgeReleases());
console.log(JSON.stringify({ level: 'info', msg: 'edge isolate started', ...startup }));

export default createWorker();

export { JobCoordinator, ReviewQueue } from './exports.ts';
