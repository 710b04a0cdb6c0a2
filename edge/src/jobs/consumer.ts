/**
 * The queue consumer: each message is one chunk of one job. The chunk's Durable Object says whether this delivery
 * runs it (`claim`: exactly-once results from at-least-once delivery); the rows are read from R2 and answered by
 * the app itself through the synchronous cascade (an internal request as the job's owner: caller.ts), the results
 * written to R2 in input order, and the chunk recorded done. A failure the chunk may recover from (the origin
 * down past degrading, a timeout, a thrown error) goes back to the queue with a backoff (`retry`), and after
 * `max_retries` to the dead-letter queue, whose consumer records the chunk as failed; a refusal (4xx: the key
 * revoked, the model gone) fails the chunk at once.
 *
 * A job has no latency pressure: rows whose escalation found no origin (answered `edge-degraded`) are not accepted
 * on the chunk's first DEGRADED_RETRIES deliveries; the chunk goes back to the queue after 5 s, then 10 s (a
 * restarted origin or a recovering pool is back by then), and only the next delivery accepts degraded rows, so a
 * chunk keeps a delivery in hand for other failures before the dead-letter queue (max_retries = 3).
 */

import { predictionsFromOutput } from '../../../shared/protocol/tensor.ts';
import { loadConfig } from '../config.ts';
import { ownerPrincipal } from '../tenants/principal.ts';
import { jobEnv } from './caller.ts';
import type { ChunkMessage, JobSpec } from './coordinator.ts';

/** What the consumer needs of the app: its fetch. */
export interface JobApp {
  fetch(request: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response>;
}

/** The object key of a chunk's results. */
export const resultKey = (spec: Pick<JobSpec, 'prefix'>, chunk: number) =>
  `${spec.prefix}out/${chunk}.ndjson`;

/** A chunk the job cannot recover by retrying (the owner's key revoked, the model refused the rows...). */
export class ChunkRefused extends Error {}

/** Deliveries of a chunk that wait for the origin rather than accept rows it could not answer. */
export const DEGRADED_RETRIES = 2;

/** Rows the origin could not answer on an early delivery: the chunk is retried after `delaySeconds`. */
export class RowsDegraded extends Error {
  readonly delaySeconds: number;

  constructor(degraded: number, rows: number, attempt: number) {
    super(`${degraded} of ${rows} rows found no origin (edge-degraded); retrying the chunk later`);
    this.delaySeconds = 5 * attempt;
  }
}

const stub = (env: Env, job: string) => env.JOBS.get(env.JOBS.idFromName(job));

/** One tensor row as stored: each input's values, flattened. */
type TensorRow = Record<string, Array<number | boolean>>;

/** A chunk's internal request and how to read its answer into one result object per row. */
interface ChunkCall {
  path: string;
  body: unknown;
  read(body: Record<string, unknown>): Array<Record<string, unknown>> | undefined;
}

const versionPath = (spec: JobSpec) =>
  `/${encodeURIComponent(spec.model)}${spec.version === null ? '' : `/versions/${encodeURIComponent(spec.version)}`}`;

/** Texts: the text API; each result is the item's prediction, with the version that answered. */
function textCall(spec: JobSpec, texts: string[]): ChunkCall {
  return {
    path: `/v1/models${versionPath(spec)}/classify`,
    body: { texts },
    read: (body) => {
      const predictions = body.predictions as Array<Record<string, unknown>> | undefined;
      return predictions?.map((p) => ({ ...p, version: p.version ?? body.version }));
    },
  };
}

/**
 * Tensor rows: one OIP infer request (JSON tensors, the rows stacked along the batch dimension); each result is the
 * row's label, score and scores from the cascade output, and who answered it (`parameters.served_by_items`).
 */
function tensorCall(spec: JobSpec, rows: TensorRow[]): ChunkCall {
  const tensor = spec.tensor as NonNullable<JobSpec['tensor']>;
  return {
    path: `/v2/models${versionPath(spec)}/infer`,
    body: {
      inputs: tensor.inputs.map((i) => ({
        name: i.name,
        datatype: i.datatype,
        shape: [rows.length, ...i.shape.slice(1)],
        data: rows.flatMap((r) => r[i.name] ?? []),
      })),
      outputs: [{ name: tensor.output.name }],
    },
    read: (body) => {
      const outputs = body.outputs as Array<{ name: string; data: number[] }> | undefined;
      const out = outputs?.find((o) => o.name === tensor.output.name);
      if (out === undefined) return undefined;
      const params = (body.parameters ?? {}) as { served_by_items?: string };
      const servedBy = String(params.served_by_items ?? '').split(',');
      return predictionsFromOutput(out.data, tensor.output.kind, tensor.labels).map((p, i) => ({
        ...p,
        served_by: servedBy[i] ?? 'unknown',
        version: body.model_version,
      }));
    },
  };
}

/** Runs one chunk: claim, read, answer through the app, write the results, complete. */
export async function runChunk(
  app: JobApp,
  env: Env,
  ctx: ExecutionContext,
  msg: ChunkMessage,
): Promise<string> {
  const job = stub(env, msg.job);
  const claim = await job.claim(msg.chunk);
  if (!claim.run) return `skipped (${claim.why})`;
  const spec = claim.spec;
  try {
    // Fault injection for benchmarks and drills (JOB_FAULT_EVERY=N, off by default): the first delivery of every
    // Nth chunk fails as a lost isolate would, so the retry path runs.
    const every = Number(env.JOB_FAULT_EVERY ?? '');
    if (Number.isInteger(every) && every > 0 && msg.chunk % every === 0 && claim.attempt === 1) {
      throw new Error('injected fault (JOB_FAULT_EVERY)');
    }
    const principal = await ownerPrincipal(loadConfig(env).apiKeys, env.DB, spec.owner, Date.now());
    if (principal === undefined)
      throw new ChunkRefused("the job owner's API key no longer exists or may not be used");
    const input = await env.JOBS_BUCKET.get(spec.chunks[msg.chunk]?.key ?? '');
    if (input === null) throw new ChunkRefused('the chunk input is gone from storage');
    const rows = (await input.text())
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as unknown);
    const call =
      spec.tensor == null ? textCall(spec, rows as string[]) : tensorCall(spec, rows as TensorRow[]);
    const res = await app.fetch(
      new Request(`https://jobs.internal${call.path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-request-id': `${spec.id}.${msg.chunk}.${claim.attempt}`,
          // A job reads the cache (a row answered before is free) but does not fill it with its bulk rows.
          'cache-control': 'no-store',
        },
        body: JSON.stringify(call.body),
      }),
      jobEnv(env, { principal, job: spec.id, chunk: msg.chunk }),
      ctx,
    );
    const body = (await res.json().catch(() => ({}))) as Record<string, unknown> & {
      error?: { code: string; message: string };
    };
    const predictions = res.status === 200 ? call.read(body) : undefined;
    if (predictions === undefined || predictions.length !== rows.length) {
      const why = `${res.status} ${body.error?.code ?? ''}: ${body.error?.message ?? 'no predictions'}`;
      if (res.status >= 400 && res.status < 500 && res.status !== 429) throw new ChunkRefused(why);
      throw new Error(why);
    }
    const degraded = predictions.filter((p) => p.served_by === 'edge-degraded').length;
    if (degraded > 0 && claim.attempt <= DEGRADED_RETRIES) {
      throw new RowsDegraded(degraded, rows.length, claim.attempt);
    }
    const first = spec.chunks[msg.chunk]?.first ?? 0;
    const counts: Record<string, number> = {};
    const lines = predictions.map((p, i) => {
      const servedBy = String(p.served_by);
      counts[servedBy] = (counts[servedBy] ?? 0) + 1;
      return JSON.stringify({ index: first + i, ...p });
    });
    await env.JOBS_BUCKET.put(resultKey(spec, msg.chunk), `${lines.join('\n')}\n`);
    await job.complete(msg.chunk, counts);
    return 'done';
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    if (err instanceof ChunkRefused) {
      await job.fail(msg.chunk, why);
      return `failed (${why})`;
    }
    await job.release(msg.chunk, why);
    throw err;
  }
}

/** Backoff of a retried chunk: 1, 2, 4... seconds after its 1st, 2nd, 3rd delivery, at most a minute. */
export const retryDelaySeconds = (attempts: number) => Math.min(60, 2 ** Math.max(0, attempts - 1));

/** The Worker's `queue` handler for the jobs queue and its dead-letter queue. */
export function createJobConsumer(app: JobApp) {
  return async function queue(
    batch: MessageBatch<ChunkMessage>,
    env: Env,
    ctx: ExecutionContext,
  ): Promise<void> {
    const dead = batch.queue.endsWith('-dlq');
    // The batch's chunks run side by side: their R2, Durable Object and origin waits overlap.
    await Promise.all(batch.messages.map((msg) => handle(msg)));

    async function handle(msg: Message<ChunkMessage>): Promise<void> {
      const body = msg.body as Partial<ChunkMessage> | null;
      if (typeof body?.job !== 'string' || !Number.isInteger(body.chunk)) {
        // Not one of ours: nothing to run or record; acknowledged so it does not loop.
        console.error(
          JSON.stringify({ level: 'warn', msg: 'job queue message ignored: not {job, chunk}', id: msg.id }),
        );
        msg.ack();
        return;
      }
      try {
        if (dead) {
          await stub(env, msg.body.job).fail(msg.body.chunk, 'dead-lettered after the queue retries');
        } else {
          const started = Date.now();
          const outcome = await runChunk(app, env, ctx, msg.body as ChunkMessage);
          console.log(
            JSON.stringify({
              level: 'info',
              msg: 'job chunk',
              job: msg.body.job,
              chunk: msg.body.chunk,
              attempts: msg.attempts,
              outcome,
              ms: Date.now() - started,
              batch: batch.messages.length,
            }),
          );
        }
        msg.ack();
      } catch (err) {
        console.error(
          JSON.stringify({
            level: 'warn',
            msg: 'job chunk failed; retrying',
            job: msg.body.job,
            chunk: msg.body.chunk,
            attempts: msg.attempts,
            error: err instanceof Error ? err.message : String(err),
          }),
        );
        msg.retry({
          delaySeconds: err instanceof RowsDegraded ? err.delaySeconds : retryDelaySeconds(msg.attempts),
        });
      }
    }
  };
}
