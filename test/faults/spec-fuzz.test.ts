/**
 * Spec-driven fuzzing of the real stack: requests drawn from edge/openapi.json and origin/openapi.json
 * (test/spec-fuzz.ts: valid ones, and ones with one mutation) against the edge (workerd) and an origin (half of
 * them signed). Every answer must hold to the document (shared/openapi/contract.ts), no 5xx but a documented
 * 503/504 in the error shape (never a 500), and both tiers must still be live afterwards. Seeded: failures reproduce.
 *
 *   SPEC_FUZZ_N (edge requests, default 3000), SPEC_FUZZ_ORIGIN_N (default 1000), SPEC_FUZZ_SEED (default 0x5bec),
 *   SPEC_FUZZ_NOTES=1 (print the request behind each note)
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Stack, startStack } from '../../scripts/stack.ts';
import { Contract } from '../../shared/openapi/contract.ts';
import { signRequest } from '../../shared/signing/index.ts';
import { type FuzzRequest, rng, signFuzz } from '../fuzz.ts';
import { isErrorShape } from '../helpers.ts';
import { operationsOf, type SpecRequest, specRequest } from '../spec-fuzz.ts';

const EDGE_N = Number(process.env.SPEC_FUZZ_N ?? 3000);
const ORIGIN_N = Number(process.env.SPEC_FUZZ_ORIGIN_N ?? 1000);
const SEED = Number(process.env.SPEC_FUZZ_SEED ?? 0x5bec);
const CONCURRENCY = 16;

type Json = Record<string, unknown>;
const load = (f: string) => JSON.parse(readFileSync(new URL(`../../${f}`, import.meta.url), 'utf8')) as Json;

let stack: Stack;
let admin: string;
let infer: string;
const values: Record<string, string[]> = { model: ['spam', 'digits'] };
const summary: Record<string, unknown> = {};

async function call(method: string, path: string, body: unknown, key = admin): Promise<Json> {
  const res = await fetch(`${stack.edgeUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as Json;
  if (!res.ok) throw new Error(`${method} ${path} -> ${res.status} ${JSON.stringify(json)}`);
  return json;
}

beforeAll(async () => {
  stack = await startStack({
    sharedState: 'test',
    edgeVars: { RATE_LIMIT_TIERS: JSON.stringify({ pro: { limit: 10_000_000, window: '60 s' } }) },
    keys: [
      { name: 'spec-admin', tier: 'pro', scopes: ['infer', 'admin', 'reviewer'] },
      { name: 'spec-infer', tier: 'pro', scopes: ['infer'] },
    ],
  });
  [admin, infer] = stack.apiKeys.map((k) => k.key) as [string, string];
  // Things that exist, so that some ids and versions the fuzzer sends name them. The keys in use are bootstrap
  // keys (API_KEYS): nothing the fuzzer sends (revoke, rotate, PATCH, a disabled tenant) can touch them.
  // Seeding is best effort: without it the fuzzer still runs, with fewer 2xx answers.
  try {
    const meta = await call('GET', '/v2/models/spam', undefined);
    const versions = (meta.versions as string[] | undefined) ?? [];
    const tenant = await call('POST', '/v1/admin/tenants', { name: 'spec-fuzz', tier: 'pro' });
    const key = await call('POST', '/v1/admin/keys', {
      tenant: tenant.id,
      name: 'spec-fuzz',
      scopes: ['infer'],
    });
    const job = await call('POST', '/v1/models/spam/jobs', { texts: ['hello', 'win a prize now'] }, infer);
    const keyId = (key.record as Json | undefined)?.id ?? key.id;
    Object.assign(values, {
      version: versions,
      stable: versions,
      candidate: versions,
      tenant: [String(tenant.id)],
      tier: ['pro'],
      id: [String(job.id), String(tenant.id), String(keyId)],
    });
  } catch (err) {
    console.log(`spec-fuzz seeding failed, going on without: ${String(err)}`);
  }
  console.log(`spec-fuzz known values: ${JSON.stringify(values)}`);
});

afterAll(async () => {
  console.log(`spec-fuzz: ${JSON.stringify(summary)}`);
  await stack?.stop();
});

interface Outcome {
  failures: Map<string, string>;
  statuses: Record<number, number>;
  covered: Set<string>;
  fiveXX: number;
  notes: Map<string, string>;
}

const DECODER = new TextDecoder('utf-8', { ignoreBOM: true });

/** How to send `req` again: method, path, headers (keys named, not shown) and the start of the body. */
function repro(req: SpecRequest | FuzzRequest, answer: string): string {
  const headers = Object.fromEntries(
    Object.entries(req.headers).map(([k, v]) => [
      k,
      v.replace(admin, '<admin key>').replace(infer, '<infer key>').slice(0, 120),
    ]),
  );
  const body = req.body === undefined ? '' : DECODER.decode(req.body.subarray(0, 200));
  const how = 'mutation' in req && req.mutation !== '' ? ` [${req.mutation.slice(0, 80)}]` : '';
  return `${req.method} ${req.path.slice(0, 200)}${how}\n    headers ${JSON.stringify(headers)}\n    body ${JSON.stringify(body)} (${req.body?.length ?? 0} bytes)\n    answer ${answer.slice(0, 240)}`;
}

/** A problem with what varies from request to request (quoted values, indices) taken out, for dedup. */
const shapeOf = (problem: string) =>
  problem
    .replace(/"(?:[^"\\]|\\.)*"/g, '"…"')
    .replace(/\/\d+/g, '/N')
    .slice(0, 300);

async function fuzz(
  base: string,
  contract: Contract,
  reqs: SpecRequest[],
  sign?: (r: SpecRequest) => Promise<FuzzRequest>,
): Promise<Outcome> {
  const out: Outcome = { failures: new Map(), statuses: {}, covered: new Set(), fiveXX: 0, notes: new Map() };
  const fail = (
    req: SpecRequest,
    status: number | string,
    problem: string,
    sent: FuzzRequest,
    answer: string,
  ) => {
    // By the route the request reached (a dot segment may take it to another one, or to none).
    const route = contract.route(sent.path)?.template ?? '(no such path)';
    const key = `${sent.method} ${route} -> ${status}: ${shapeOf(problem)}`;
    if (!out.failures.has(key))
      out.failures.set(
        key,
        `${sent.method} ${route} -> ${status}: ${problem.slice(0, 300)} (drawn for ${req.operation})\n  ${repro(sent, answer)}`,
      );
  };
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < reqs.length) {
        const req = reqs[next++] as SpecRequest;
        let sent: FuzzRequest = req;
        let res: Response;
        let text: string;
        try {
          if (sign !== undefined) sent = await sign(req);
          res = await fetch(`${base}${sent.path}`, {
            method: sent.method,
            headers: sent.headers,
            body: sent.body,
            redirect: 'manual',
            signal: AbortSignal.timeout(30_000),
          });
          text = await res.text();
        } catch (err) {
          fail(req, 'no answer', `${String(err)} ${String((err as Error).cause ?? '')}`, sent, '');
          continue;
        }
        const { status } = res;
        out.statuses[status] = (out.statuses[status] ?? 0) + 1;
        if (status >= 200 && status < 300) out.covered.add(req.operation);
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        if (status >= 500) {
          out.fiveXX++;
          // Only a documented 503/504 in the error shape (Contract checks that the route documents it).
          if ((status !== 503 && status !== 504) || !isErrorShape(json))
            fail(req, status, `5xx ${text.slice(0, 200)}`, sent, text);
        }
        for (const problem of contract.check({
          method: sent.method,
          path: sent.path,
          status,
          headers: res.headers,
          body: text,
        }))
          fail(req, status, problem.slice(problem.indexOf(': ') + 2), sent, text);
        // Not failures, but where document and code may disagree: a schema-broken request taken (the code is
        // looser than the document), or a valid one refused as malformed (the document is looser than the code).
        const code = (json as { error?: { code?: string } } | undefined)?.error?.code;
        const note =
          req.kind === 'invalid' && req.auth === 'scoped' && status < 300
            ? `accepted an invalid request (${req.mutation.replace(/: .*$/s, '')}: ${shapeOf(req.mutation.split(': ').slice(1).join(': ')).slice(0, 80)})`
            : req.kind === 'valid' && req.auth === 'scoped' && status === 400 && code !== 'invalid_header'
              ? `refused a valid request: ${code} ${shapeOf(String((json as { error?: { message?: string } }).error?.message)).slice(0, 100)}`
              : undefined;
        if (note !== undefined && !out.notes.has(`${req.operation}: ${note}`))
          out.notes.set(`${req.operation}: ${note}`, repro(sent, text));
      }
    }),
  );
  return out;
}

function report(name: string, o: Outcome, ops: string[], sent: number): string[] {
  summary[name] = {
    sent,
    byStatus: o.statuses,
    covered: `${o.covered.size}/${ops.length}`,
    fiveXX: o.fiveXX,
    failures: o.failures.size,
  };
  console.log(`${name}: no 2xx for ${ops.filter((op) => !o.covered.has(op)).join(', ')}`);
  const failures = [...o.failures.values()];
  if (failures.length > 0)
    console.log(`${name}: ${failures.length} failures\n${failures.slice(0, 30).join('\n')}`);
  if (o.notes.size > 0)
    console.log(
      `${name}: ${o.notes.size} notes (not failures; SPEC_FUZZ_NOTES=1 shows each request)\n${[...o.notes]
        .slice(0, 40)
        .map(([note, how]) => (process.env.SPEC_FUZZ_NOTES ? `${note}\n  ${how}` : note))
        .join('\n')}`,
    );
  return failures;
}

async function stillUp(): Promise<void> {
  for (const url of [stack.edgeUrl, ...stack.originUrls]) {
    const res = await fetch(`${url}/v2/health/live`);
    expect(res.status, url).toBe(200);
  }
  expect(stack.edge.process.exitCode).toBeNull();
  for (const o of stack.origins) expect(o.process.exitCode).toBeNull();
}

function generate(
  doc: Json,
  seed: number,
  n: number,
  keys?: { admin: string; infer: string },
): SpecRequest[] {
  const ops = operationsOf(doc);
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) =>
    specRequest(doc, ops[i % ops.length] as (typeof ops)[number], r, { keys, values }),
  );
}

it(`edge: ${EDGE_N} requests from edge/openapi.json, every answer as documented`, async () => {
  const doc = load('edge/openapi.json');
  const reqs = generate(doc, SEED, EDGE_N, { admin, infer });
  const o = await fuzz(stack.edgeUrl, new Contract(doc), reqs);
  const failures = report(
    'edge',
    o,
    operationsOf(doc).map((x) => `${x.method} ${x.template}`),
    reqs.length,
  );
  await stillUp();
  expect(failures.slice(0, 30)).toEqual([]);
  expect(o.statuses[200] ?? 0).toBeGreaterThan(0);
}, 900_000);

it(`origin: ${ORIGIN_N} requests from origin/openapi.json (half signed), every answer as documented`, async () => {
  const doc = load('origin/openapi.json');
  const reqs = generate(doc, SEED + 1, ORIGIN_N);
  const r = rng(SEED + 2);
  const signed = reqs.map(() => r() < 0.5);
  const index = new Map(reqs.map((q, i) => [q, i]));
  const o = await fuzz(stack.originUrls[0] as string, new Contract(doc), reqs, async (req) => {
    if (!signed[index.get(req) as number]) return req;
    // A request that carries x-priority has it signed too (else the origin rightly refuses it).
    const priority = Number(req.headers['x-priority']);
    if (!(Number.isInteger(priority) && priority >= 1 && priority <= 16))
      return signFuzz(req, stack.signingSecret);
    const sig = await signRequest({
      secret: stack.signingSecret,
      method: req.method,
      path: req.path,
      body: req.body ?? null,
      priority,
    });
    return { ...req, headers: { ...req.headers, ...sig } };
  });
  const failures = report(
    'origin',
    o,
    operationsOf(doc).map((x) => `${x.method} ${x.template}`),
    reqs.length,
  );
  await stillUp();
  expect(failures.slice(0, 30)).toEqual([]);
  expect(o.statuses[200] ?? 0).toBeGreaterThan(0);
}, 900_000);
