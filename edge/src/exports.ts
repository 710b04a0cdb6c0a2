/**
 * The classes wrangler.toml binds (Durable Objects), exported by every entry of the Worker: edge/src/index.ts and
 * the entries benchmarks generate (scripts/edge-release.ts renderEdgeEntry), so none can miss one.
 */
export { JobCoordinator } from './jobs/coordinator.ts';
export { ReviewQueue } from './review/queue.ts';
