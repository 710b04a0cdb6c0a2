/**
 * The edge Worker's entry: the only default export (HTTP through the app, the jobs queue and its dead-letter queue
 * through the consumer), and the Durable Object classes wrangler.toml binds.
 */
import { createApp } from './app.ts';
import { createJobConsumer } from './jobs/consumer.ts';
import type { ChunkMessage } from './jobs/coordinator.ts';

const app = createApp();

export default {
  fetch: app.fetch,
  queue: createJobConsumer(app),
} satisfies ExportedHandler<Env, ChunkMessage>;

export { JobCoordinator } from './jobs/coordinator.ts';
export { ReviewQueue } from './review/queue.ts';
