/**
 * The marker of a job's internal request: the env a chunk's `app.fetch` runs with carries the job's caller under a
 * Symbol key, which no HTTP client can set (jobs/caller.ts says how a chunk runs). Kept out of jobs/ so that the
 * modules reading the marker (origin-client's priority, the app's auth and limits) need not depend on jobs/.
 */
import type { Principal } from '../types.ts';

const JOB_CALLER = Symbol('job caller');

export interface JobCaller {
  principal: Principal;
  job: string;
  chunk: number;
}

/** The env a chunk's internal request runs with: the real bindings plus the job's caller. */
export function jobEnv(env: Env, caller: JobCaller): Env {
  return { ...env, [JOB_CALLER]: caller } as Env;
}

/** The job caller of an internal request, or undefined for every request that came over HTTP. */
export function jobCaller(env: Env): JobCaller | undefined {
  return (env as unknown as Record<symbol, JobCaller | undefined>)[JOB_CALLER];
}
