/**
 * npm run bench:jobs: one asynchronous job through the whole local stack (scripts/stack.ts: the real origin, the
 * Upstash bridge over a real Redis, the edge Worker in workerd via wrangler dev with its local R2, Queue and
 * Durable Object), against the same rows sent synchronously.
 *
 * Rows: the release recipe's test split repeated until BENCH_ROWS (default 20,000), each repeat varied (a suffix)
 * so the cache answers none. The job is NDJSON, submitted once; JOB_FAULT_EVERY=7 makes the first delivery of
 * every 7th chunk fail, so the retry path runs too. Its rows/s is rows / (submission to `succeeded`, results read).
 * The synchronous run sends the same rows to POST /v1/models/spam/classify, 8 texts per request, concurrency 8,
 * `x-escalate: auto`, cache bypassed, on the same stack in the same run. The ceiling (#29): the same kind of rows,
 * 256 texts per request, `x-escalate: never`, two requests in flight: featurize + student at batch 256 in the same
 * isolate, what the job's processing rate is held against (`processing_vs_ceiling`).
 * The last line printed is one JSON object.
 * Env: BENCH_ROWS (default 20000), BENCH_SYNC_ROWS (rows of the synchronous run, default all; its rate is per row),
 * BENCH_CEILING_ROWS (default 5120, at most BENCH_ROWS),
 * BENCH_SMOKE=1 (400 rows in chunks of 25, so the fault and retry path still runs).
 */
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { createEdgeClient, type EdgeComponents, unwrap } from '../client/src/index.ts';
import { startStack } from '../scripts/stack.ts';
import { classify, testMessages } from '../test/helpers.ts';
import { LABELS } from '../training/src/data/corpus.ts';
import { envInt, log, result, round, SMOKE, sleep, smokeOr } from './lib.ts';

const ROWS = envInt('BENCH_ROWS', smokeOr(20_000, 400), 100, 50_000);
const SYNC_ROWS = envInt('BENCH_SYNC_ROWS', ROWS, 100, 50_000);
const FAULT_EVERY = 7;
/** A ceiling request's texts, bytes at most (MAX_BODY_BYTES is 1 MiB; the JSON around them is small). */
const CEILING_BODY_BYTES = 1_000_000;
/** Rows of the ceiling run (up to 256 per request). */
const CEILING_ROWS = Math.min(ROWS, envInt('BENCH_CEILING_ROWS', smokeOr(5120, 512), 256, 50_000));

type Job = EdgeComponents['schemas']['Job'];
type ResultLine = EdgeComponents['schemas']['JobResultLine'];

interface Row {
  text: string;
  label: string;
}

function rows(n: number, tag: string): Row[] {
  const split = testMessages();
  return Array.from({ length: n }, (_, i) => {
    const m = split[i % split.length] as (typeof split)[number];
    return { text: `${m.text}\n${tag}-${Math.floor(i / split.length)}`, label: LABELS[m.label] as string };
  });
}

async function main(): Promise<void> {
  log('bench:jobs: starting the stack (origin, bridge over Redis, edge in workerd with local R2/Queue/DO)');
  const stack = await startStack({
    sharedState: 'test',
    keys: [{ name: 'bench', tier: 'bench' }],
    edgeVars: {
      RATE_LIMIT_TIERS: JSON.stringify({
        bench: { limit: 10_000_000, window: '60 s', job_rows_per_day: 10_000_000 },
      }),
      JOB_FAULT_EVERY: String(FAULT_EVERY),
      // A smoke run's few rows still make enough chunks for the retry path to run.
      ...(SMOKE ? { JOB_CHUNK_ROWS: '25' } : {}),
    },
    ...(process.env.BENCH_LOG === '1'
      ? { log: (label: string, line: string) => console.error(`${label} ${line}`) }
      : {}),
  });
  try {
    const key = stack.apiKeys[0]?.key as string;
    const edge = createEdgeClient({ baseUrl: stack.edgeUrl, apiKey: key });
    await classify(stack.edgeUrl, key, ['warm-up'], {
      'cache-control': 'no-cache, no-store',
      'x-escalate': 'always',
    });

    // The job.
    const jobRows = rows(ROWS, `job-${Date.now()}`);
    const body = `${jobRows.map((r) => JSON.stringify({ text: r.text })).join('\n')}\n`;
    log(`bench:jobs: submitting ${ROWS} rows (${(body.length / 1e6).toFixed(1)} MB NDJSON)`);
    const t0 = performance.now();
    // Gzipped: 20,000 test-split emails are ~120 MB of NDJSON, over the platform's 100 MB body limit.
    const gz = gzipSync(body);
    log(`bench:jobs: gzipped to ${(gz.byteLength / 1e6).toFixed(1)} MB`);
    // The job route typed, not the client's submitJob: that one sends plain NDJSON, this body is gzipped.
    const job = unwrap(
      await edge.POST('/v1/models/{model}/jobs', {
        params: {
          path: { model: 'spam' },
          header: { 'content-encoding': 'gzip', 'Idempotency-Key': randomUUID() },
        },
        body: gz as unknown as string,
        bodySerializer: (b) => b,
        headers: { 'content-type': 'application/x-ndjson' },
      }),
    );
    const submitS = (performance.now() - t0) / 1000;
    let view: Job;
    for (;;) {
      view = unwrap(await edge.GET('/v1/jobs/{id}', { params: { path: { id: job.id } } }));
      if (!['queued', 'running'].includes(view.status)) break;
      await sleep(500);
    }
    const lines: ResultLine[] = [];
    for await (const line of edge.jobResults<ResultLine>(job.id)) lines.push(line);
    const jobS = (performance.now() - t0) / 1000;
    const seen = new Map<number, number>();
    for (const l of lines) seen.set(l.index, (seen.get(l.index) ?? 0) + 1);
    const lost = jobRows.filter((_, i) => !seen.has(i)).length;
    const duplicated = [...seen.values()].filter((n) => n > 1).length;
    const answered = lines.filter((l) => 'label' in l);
    const correct = answered.filter((l) => l.label === jobRows[l.index]?.label).length;
    const servedBy: Record<string, number> = {};
    for (const l of answered) servedBy[String(l.served_by)] = (servedBy[String(l.served_by)] ?? 0) + 1;
    const edgeShare = (servedBy.edge ?? 0) / Math.max(1, answered.length);
    log(
      `  job ${job.id}: ${view.status} in ${round(jobS, 1)} s (submission ${round(submitS, 2)} s), ${answered.length} answered, ${lost} lost, ${duplicated} duplicated`,
    );

    // The same rows synchronously: 8 texts per request, concurrency 8, cache bypassed.
    const syncRows = rows(SYNC_ROWS, `sync-${Date.now()}`);
    let next = 0;
    let syncCorrect = 0;
    let syncAnswered = 0;
    let syncErrors = 0;
    const t1 = performance.now();
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < syncRows.length) {
          const batch = syncRows.slice(next, next + 8);
          next += 8;
          const r = await classify(
            stack.edgeUrl,
            key,
            batch.map((b) => b.text),
            { 'cache-control': 'no-cache, no-store', 'x-escalate': 'auto' },
          );
          const predictions = (r.body as { predictions?: Array<{ label: string }> }).predictions;
          if (r.status !== 200 || predictions === undefined) {
            syncErrors++;
            continue;
          }
          predictions.forEach((p, i) => {
            syncAnswered++;
            if (p.label === batch[i]?.label) syncCorrect++;
          });
        }
      }),
    );
    const syncS = (performance.now() - t1) / 1000;

    // The ceiling (#29): the edge isolate's own model work on the same rows, featurize + student in batches as large
    // as a synchronous request takes (256 rows, 1 MiB: the job's chunks are cut the same way), nothing escalated (`x-escalate: never`), cache bypassed, two requests in flight
    // so the isolate never waits on the network: what a job's rows cost at least in the same isolate.
    const ceilingRows = rows(CEILING_ROWS, `ceiling-${Date.now()}`);
    let nextCeiling = 0;
    let ceilingErrors = 0;
    const t2 = performance.now();
    await Promise.all(
      Array.from({ length: 2 }, async () => {
        while (nextCeiling < ceilingRows.length) {
          // Up to 256 rows, within the edge's 1 MiB body limit (as the job's chunks are).
          const batch: Row[] = [];
          let bytes = 0;
          while (nextCeiling < ceilingRows.length && batch.length < 256) {
            const row = ceilingRows[nextCeiling] as Row;
            const size = Buffer.byteLength(JSON.stringify(row.text));
            if (batch.length > 0 && bytes + size > CEILING_BODY_BYTES) break;
            batch.push(row);
            bytes += size + 1;
            nextCeiling++;
          }
          const r = await classify(
            stack.edgeUrl,
            key,
            batch.map((b) => b.text),
            { 'cache-control': 'no-cache, no-store', 'x-escalate': 'never' },
          );
          if (r.status !== 200) {
            ceilingErrors++;
            if (ceilingErrors === 1)
              log(`  ceiling: a request failed: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
          }
        }
      }),
    );
    const ceilingS = (performance.now() - t2) / 1000;
    const ceilingRowsPerS = ceilingRows.length / ceilingS;
    log(
      `  ceiling: ${ceilingRows.length} rows in ${round(ceilingS, 2)} s (${ceilingErrors} failed requests)`,
    );
    const rowsPerS = ROWS / jobS;
    // From the first chunk's start to the last chunk's end (the job's own timestamps), without ingest and polling.
    const processingS = (Date.parse(String(view.finished_at)) - Date.parse(String(view.started_at))) / 1000;
    const syncRowsPerS = syncRows.length / syncS;
    log(`  sync: ${syncRows.length} rows in ${round(syncS, 1)} s (${syncErrors} failed requests)`);
    result({
      bench: 'jobs',
      rows: ROWS,
      job_status: view.status,
      wall_s: round(jobS, 2),
      submit_s: round(submitS, 2),
      rows_per_s: round(rowsPerS, 1),
      ingest_mb_per_s: round(body.length / 1e6 / submitS, 1),
      processing_s: round(processingS, 2),
      processing_rows_per_s: round(ROWS / processingS, 1),
      sync_rows: syncRows.length,
      sync_wall_s: round(syncS, 2),
      sync_rows_per_s: round(syncRowsPerS, 1),
      speedup: round(rowsPerS / syncRowsPerS, 2),
      ceiling_rows: ceilingRows.length,
      ceiling_rows_per_s: round(ceilingRowsPerS, 1),
      ceiling_failed_requests: ceilingErrors,
      // Goals (#29): processing >= 0.6 x the ceiling and >= 3 x the synchronous rate.
      processing_vs_ceiling: round(ROWS / processingS / ceilingRowsPerS, 3),
      processing_vs_sync: round(ROWS / processingS / syncRowsPerS, 2),
      lost,
      duplicated,
      dead_lettered: view.errors.length,
      fault_every_chunks: FAULT_EVERY,
      served_by: servedBy,
      edge_share: round(edgeShare, 4),
      accuracy: round(correct / Math.max(1, answered.length), 4),
      sync_accuracy: round(syncCorrect / Math.max(1, syncAnswered), 4),
      sync_failed_requests: syncErrors,
      note: 'local stack (wrangler dev, local Queue/R2/DO); job wall = submission to results read; sync = 8 texts/request at concurrency 8, cache bypassed',
    });
  } finally {
    await stack.stop();
  }
}

await main();
