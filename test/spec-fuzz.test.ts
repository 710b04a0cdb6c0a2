/** Pins the spec-driven request generator (test/spec-fuzz.ts) on the real documents: valid fits, invalid does not. */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Contract } from '../shared/openapi/contract.ts';
import { rng } from './fuzz.ts';
import { operationsOf, SchemaGen, type SpecRequest, specRequest, validatorFor } from './spec-fuzz.ts';

type Json = Record<string, unknown>;
const load = (f: string) => JSON.parse(readFileSync(new URL(`../${f}`, import.meta.url), 'utf8')) as Json;
const KEYS = { admin: 'sk_admin', infer: 'sk_infer' };

/** Every schema a request is drawn from: the components, the parameters and the JSON request bodies. */
function schemasOf(doc: Json): Array<[string, Json]> {
  const out: Array<[string, Json]> = Object.keys((doc.components as { schemas: Json }).schemas).map((k) => [
    k,
    { $ref: `#/components/schemas/${k}` },
  ]);
  for (const { method, template, op } of operationsOf(doc)) {
    for (const p of (op.parameters as Json[]) ?? []) out.push([`${template} ${p.name}`, p.schema as Json]);
    const content = ((op.requestBody as Json | undefined)?.content ?? {}) as Record<string, Json>;
    for (const [media, m] of Object.entries(content))
      if (media.includes('json') && m.schema !== undefined)
        out.push([`${method} ${template} ${media}`, m.schema as Json]);
  }
  return out;
}

const requests = (doc: Json, seed: number, n: number): SpecRequest[] => {
  const ops = operationsOf(doc);
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) =>
    specRequest(doc, ops[i % ops.length] as (typeof ops)[number], r, {
      keys: KEYS,
      values: { model: ['spam'] },
    }),
  );
};

const jsonBody = (req: SpecRequest): unknown => {
  const bytes =
    req.headers['content-encoding'] === 'gzip' ? gunzipSync(req.body ?? new Uint8Array()) : req.body;
  return JSON.parse(new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes));
};

describe.each(['edge/openapi.json', 'origin/openapi.json'])('%s', (file) => {
  const doc = load(file);
  const contract = new Contract(doc);

  it('draws valid values that fit their schema, and invalid ones that do not', () => {
    let broken = 0;
    for (const [name, schema] of schemasOf(doc)) {
      const v = validatorFor(doc, schema);
      for (let seed = 1; seed <= 25; seed++) {
        const gen = new SchemaGen(doc, rng(seed));
        const value = gen.valid(schema);
        expect(v.validate(value).valid, `${name} seed ${seed}: ${JSON.stringify(value).slice(0, 300)}`).toBe(
          true,
        );
        const bad = gen.invalid(schema, value);
        if (bad === undefined) continue;
        broken++;
        expect(v.validate(bad.value).valid, `${name} seed ${seed}: ${bad.how}`).toBe(false);
      }
    }
    expect(broken).toBeGreaterThan(0);
  });

  it('builds requests on the operation route: valid bodies fit, invalid ones do not', () => {
    const reqs = requests(doc, 42, 1500);
    const ops = operationsOf(doc);
    for (const req of reqs) {
      const spec = ops.find((o) => `${o.method} ${o.template}` === req.operation) as (typeof ops)[number];
      const content = ((spec.op.requestBody as Json | undefined)?.content ?? {}) as Record<string, Json>;
      const media = req.headers['content-type'];
      const schema = media === undefined ? undefined : (content[media]?.schema as Json | undefined);
      const jsonish = media === 'application/json' && schema !== undefined && req.body !== undefined;
      if (req.kind === 'valid') {
        expect(contract.route(req.path)?.template, `${req.operation}: ${req.path}`).toBe(spec.template);
        if (jsonish)
          expect(validatorFor(doc, schema).validate(jsonBody(req)).valid, req.operation).toBe(true);
      }
      if (req.kind === 'invalid' && req.mutation.startsWith('body') && jsonish) {
        let parsed: unknown;
        try {
          parsed = jsonBody(req);
        } catch {
          continue; // not JSON: invalid as it is
        }
        expect(validatorFor(doc, schema).validate(parsed).valid, `${req.operation}: ${req.mutation}`).toBe(
          false,
        );
      }
      expect(req.kind === 'valid', `${req.kind} ${req.mutation}`).toBe(req.mutation === '');
    }
    // Every operation, every kind and every target is drawn.
    expect(new Set(reqs.map((r) => r.operation)).size).toBe(ops.length);
    expect(new Set(reqs.map((r) => r.kind))).toEqual(new Set(['valid', 'invalid', 'hostile']));
    const targets = new Set(reqs.map((r) => r.mutation.split(':')[0]));
    for (const t of ['body', 'path', 'header']) expect(targets).toContain(t);
  });

  it('is deterministic for a seed', () => {
    expect(requests(doc, 7, 300)).toEqual(requests(doc, 7, 300));
    expect(requests(doc, 7, 300)).not.toEqual(requests(doc, 8, 300));
  });
});

it('uses the key with the scopes the route asks for, most of the time', () => {
  const doc = load('edge/openapi.json');
  const reqs = requests(doc, 3, 2000);
  const scoped = reqs.filter((r) => r.auth === 'scoped');
  expect(
    scoped.length / reqs.filter((r) => r.auth !== 'none' || r.headers.authorization).length,
  ).toBeGreaterThan(0.7);
  for (const r of scoped) {
    const admin = /^(GET|POST|PUT|PATCH|DELETE) \/v1\/(admin|review|usage)/.test(r.operation);
    expect(r.headers.authorization, r.operation).toBe(`Bearer ${admin ? KEYS.admin : KEYS.infer}`);
  }
  for (const r of reqs.filter((x) => x.operation.startsWith('GET /v2/health')))
    expect(r.headers.authorization).toBeUndefined();
  expect(new Set(reqs.map((r) => r.auth))).toEqual(new Set(['scoped', 'none', 'infer', 'bogus']));
});
