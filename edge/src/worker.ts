/**
 * The Worker's handlers over one app: HTTP through the app, the jobs queue and its dead-letter queue through the
 * consumer. `edge/src/index.ts` builds the deployed one; an entry of another build (bench/rollout.ts embeds other
 * releases) builds its own with `createWorker(options)` and re-exports edge/src/exports.ts (`export * from`),
 * so a class wrangler.toml binds can never be missing from it.
 */
import { type AppOptions, createApp } from './app.ts';
import { createJobConsumer } from './jobs/consumer.ts';
import type { ChunkMessage } from './jobs/coordinator.ts';

export function createWorker(options: AppOptions = {}) {
  const app = createApp(options);
  return {
    fetch: app.fetch,
    queue: createJobConsumer(app),
  } satisfies ExportedHandler<Env, ChunkMessage>;
}
