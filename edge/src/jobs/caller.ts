/**
 * How a job's chunk runs the synchronous cascade: the queue consumer calls the app itself (`app.fetch`) with an env
 * that carries the job's owner under a Symbol key. No HTTP client can set a Symbol-keyed env property, so the
 * marker cannot be forged from outside; the app's auth takes the owner from it (no API key), the rate limiter lets
 * it through (jobs count against the daily row quota instead), the edge's heavy-request limits are lifted to the
 * chunk's size (the student answers every row it is sure of) and the escalations carry no priority, so the origin
 * schedules them at its lowest level (its default).
 */
import type { EdgeConfig } from '../config.ts';

/** The marker itself lives in lib/ (origin-client reads it too, and must not depend on jobs/). */
export { type JobCaller, jobCaller, jobEnv } from '../lib/job-caller.ts';

/** A chunk's deadline: its escalations are large, low-priority batches. */
export const JOB_DEADLINE_MS = 60_000;

/** Items and bytes of one chunk's request (shared/protocol MAX_ITEMS_PER_REQUEST rows, JOB_CHUNK_BYTES). */
const JOB_LIMIT = { default: 1_000_000_000, models: new Map<string, number>() };

/** The config a job's chunk runs with: no heavy-request escalation, the chunk's body size, a longer deadline. */
export function jobConfig(config: EdgeConfig, deadlineMs: number): EdgeConfig {
  return {
    ...config,
    edgeMaxItems: JOB_LIMIT,
    edgeMaxBytes: JOB_LIMIT,
    maxBodyBytes: Math.max(config.maxBodyBytes, 16 * 1024 * 1024),
    requestDeadlineMs: Math.max(config.requestDeadlineMs, deadlineMs),
  };
}
