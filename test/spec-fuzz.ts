/**
 * A seeded generator of HTTP requests from an OpenAPI 3.1 document (test/faults/spec-fuzz.test.ts). For one
 * operation it draws its path, query and header parameters and its request body from their JSON Schemas:
 *  - valid: every value fits its schema (a pattern is met by trying a few candidate strings, not by a generator)
 *  - invalid: one mutation that breaks the schema (a required field dropped, a wrong type, past a bound, an unknown
 *    field, a value outside the enum, NaN/Infinity in the JSON text, malformed JSON, a bad parameter)
 *  - hostile: one mutation that may still fit (huge or odd unicode strings, deep nesting, -0, a wrong media type,
 *    odd path segments: long, unicode, %2F, dot segments)
 * and an API key: most of the time one with the scopes the route asks for, else none, an infer-only or a bogus one.
 */
import { gzipSync } from 'node:zlib';
import { type Schema, Validator } from '@cfworker/json-schema';
import type { FuzzRequest } from './fuzz.ts';

type Json = Record<string, unknown>;
type Rand = () => number;
export type Kind = 'valid' | 'invalid' | 'hostile';

export interface SpecOperation {
  method: string;
  template: string;
  op: Json;
}

export interface SpecRequest extends FuzzRequest {
  /** `METHOD /template`. */
  operation: string;
  kind: Kind;
  /** What was broken ('' when valid), e.g. `body: #/texts: wrong type`. */
  mutation: string;
  auth: 'scoped' | 'none' | 'infer' | 'bogus';
}

export interface SpecOptions {
  /** `admin`: a key with every scope (used for routes that need more than `infer`); `infer`: an infer-only key. */
  keys?: { admin?: string; infer?: string };
  /** Values known to exist, by parameter or property name (model: ['spam'], id: [a job's id]...), used often. */
  values?: Record<string, readonly string[]>;
}

const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
const int = (r: Rand, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const chars = (r: Rand, set: string, n: number) =>
  Array.from({ length: n }, () => pick(r, [...set])).join('');
const UNICODE = 'é ß 中文 😀 \u202e e\u0301 \u0000 \ufeff \ud800 \udfff x\ud83d'.split(' ');

const validators = new WeakMap<object, Validator>();

/** A JSON Schema 2020-12 validator of `schema` with the document's components beside it (so $refs resolve). */
export function validatorFor(doc: Json, schema: Json): Validator {
  let v = validators.get(schema);
  if (v === undefined) {
    v = new Validator({ ...schema, components: doc.components } as unknown as Schema, '2020-12', false);
    validators.set(schema, v);
  }
  return v;
}

/** Every operation of the document, in its order. */
export function operationsOf(doc: Json): SpecOperation[] {
  return Object.entries(doc.paths as Record<string, Json>).flatMap(([template, item]) =>
    ['get', 'put', 'post', 'delete', 'patch']
      .filter((m) => isObj(item[m]))
      .map((m) => ({ method: m.toUpperCase(), template, op: item[m] as Json })),
  );
}

/** Values drawn from JSON Schemas: `valid` fits the schema, `invalid` is one valid value broken once. */
export class SchemaGen {
  readonly doc: Json;
  readonly r: Rand;
  readonly values: Record<string, readonly string[]>;

  constructor(doc: Json, r: Rand, values: Record<string, readonly string[]> = {}) {
    this.doc = doc;
    this.r = r;
    this.values = values;
  }

  /** The schema behind $refs, with allOf merged in (properties and required joined). */
  deref(s: unknown): Json {
    let n = s as Json;
    for (let i = 0; i < 8 && typeof n?.$ref === 'string'; i++)
      n = (n.$ref as string)
        .slice(2)
        .split('/')
        .reduce<unknown>(
          (o, k) => (o as Json)[k.replaceAll('~1', '/').replaceAll('~0', '~')],
          this.doc,
        ) as Json;
    if (!Array.isArray(n?.allOf)) return n ?? {};
    const { allOf, ...merged } = n;
    for (const part of (allOf as unknown[]).map((x) => this.deref(x))) {
      const properties = { ...(merged.properties as Json), ...(part.properties as Json) };
      const required = [...((merged.required as string[]) ?? []), ...((part.required as string[]) ?? [])];
      Object.assign(merged, part, { properties, required });
    }
    return merged;
  }

  /** The JSON types a schema allows ([] when it does not say). */
  typesOf(s0: unknown): string[] {
    const s = this.deref(s0);
    if (s.const !== undefined) return [jsonType(s.const)];
    if (Array.isArray(s.enum)) return [...new Set(s.enum.map(jsonType))];
    if (typeof s.type === 'string') return [s.type];
    if (Array.isArray(s.type)) return s.type as string[];
    const branches = (s.anyOf ?? s.oneOf) as unknown[] | undefined;
    if (branches === undefined)
      return s.properties !== undefined ? ['object'] : s.items !== undefined ? ['array'] : [];
    const all = branches.map((b) => this.typesOf(b));
    return all.some((t) => t.length === 0) ? [] : [...new Set(all.flat())];
  }

  valid(s0: unknown, name?: string, depth = 0): unknown {
    const { r } = this;
    const s = this.deref(s0);
    if (s.const !== undefined) return s.const;
    if (Array.isArray(s.enum)) return pick(r, s.enum);
    const branches = (s.anyOf ?? s.oneOf) as unknown[] | undefined;
    if (branches !== undefined) return this.valid(pick(r, branches), name, depth);
    const types = this.typesOf(s);
    const type = types.length > 0 ? pick(r, types) : pick(r, ['string', 'integer', 'boolean', 'null']);
    if (type === 'null') return null;
    if (type === 'boolean') return r() < 0.5;
    if (type === 'integer' || type === 'number') return this.#number(s, type === 'integer');
    if (type === 'string') return this.#string(s, name);
    if (type === 'array') {
      const min = (s.minItems as number) ?? 0;
      const n = int(r, min, Math.min((s.maxItems as number) ?? min + 3, min + (depth > 3 ? 0 : 3)));
      return Array.from({ length: n }, () => this.valid(s.items ?? {}, undefined, depth + 1));
    }
    const out: Json = {};
    const required = new Set((s.required as string[]) ?? []);
    for (const [k, p] of Object.entries((s.properties as Json) ?? {}))
      if (required.has(k) || (depth < 4 && r() < 0.5)) out[k] = this.valid(p, k, depth + 1);
    for (const k of required) if (!(k in out)) out[k] = this.valid({}, k, depth + 1);
    const extra = s.additionalProperties;
    if (extra !== undefined && extra !== false && depth < 4 && r() < 0.2)
      out[`x_${chars(r, ALNUM, 4)}`] = this.valid(extra === true ? {} : extra, undefined, depth + 1);
    return out;
  }

  #number(s: Json, integer: boolean): number {
    const { r } = this;
    const exMin = s.exclusiveMinimum as number | undefined;
    const exMax = s.exclusiveMaximum as number | undefined;
    let lo =
      (s.minimum as number) ?? (exMin === undefined ? 0 : integer ? Math.floor(exMin) + 1 : exMin + 0.001);
    let hi =
      (s.maximum as number) ??
      (exMax === undefined ? lo + 1000 : integer ? Math.ceil(exMax) - 1 : exMax - 0.001);
    if (integer) [lo, hi] = [Math.ceil(lo), Math.floor(hi)];
    const k = r();
    const v =
      k < 0.15 ? lo : k < 0.25 ? hi : k < 0.8 ? lo + r() * Math.min(hi - lo, 20) : lo + r() * (hi - lo);
    return integer ? Math.min(hi, Math.round(v)) : v;
  }

  #string(s: Json, name: string | undefined): string {
    const { r } = this;
    const min = (s.minLength as number) ?? 0;
    const max = (s.maxLength as number) ?? Number.POSITIVE_INFINITY;
    const fits = (c: string) =>
      c.length >= min &&
      c.length <= max &&
      (s.pattern === undefined || new RegExp(s.pattern as string, 'u').test(c));
    const known = (this.values[name ?? ''] ?? []).filter(fits);
    if (known.length > 0 && r() < 0.7) return pick(r, known);
    if (s.format === 'date-time') return new Date(Date.UTC(2026, 0, 1) + int(r, 0, 1e10)).toISOString();
    if (s.format === 'date')
      return new Date(Date.UTC(2026, 0, 1) + int(r, -400, 400) * 86_400_000).toISOString().slice(0, 10);
    if (s.pattern === undefined && r() < 0.7) {
      const hdr = name !== undefined && /^[a-z-]+$/i.test(name);
      return chars(r, hdr ? `${ALNUM} -_.:/` : `${ALNUM} é😀\n"\\`, int(r, min, Math.min(max, min + 24)));
    }
    const candidates = [
      ...[s.example, s.default, ...((s.examples as unknown[]) ?? [])].filter(
        (x): x is string => typeof x === 'string',
      ),
      ...known,
      ...['spam', 'digits', 'text', 'manifest.json', '2026-12-07.563707c0e1', '*', 'us-east-1', 'key,day'],
      ...['1', '42', '500', '007', 'abc_1', 'a-b.c', 'job_0123456789abcdef0123456789abcdef'],
      chars(r, '0123456789abcdef', 64),
      `sk_dev_${chars(r, ALNUM, 36)}`,
      chars(r, '0123456789', int(r, 1, 9)),
      chars(r, ALNUM, int(r, 1, 20)),
    ].filter(fits);
    return candidates.length > 0 ? pick(r, candidates) : 'x'.repeat(min);
  }

  /** `value` (valid for `s`) broken once so that it no longer fits; undefined when nothing breaks it. */
  invalid(s: unknown, value: unknown): { value: unknown; how: string } | undefined {
    const v = validatorFor(this.doc, s as Json);
    for (let i = 0; i < 8; i++) {
      const m = this.#mutate(s, value, '#');
      if (m !== undefined && !v.validate(m.value).valid) return m;
    }
    return undefined;
  }

  #mutate(s0: unknown, v: unknown, at: string): { value: unknown; how: string } | undefined {
    const { r } = this;
    const s = this.deref(s0);
    const branches = (s.anyOf ?? s.oneOf) as unknown[] | undefined;
    if (branches !== undefined && r() < 0.6) {
      const fit = branches.find((b) => validatorFor(this.doc, b as Json).validate(v).valid);
      if (fit !== undefined) return this.#mutate(fit, v, at);
    }
    const opts: Array<() => { value: unknown; how: string } | undefined> = [];
    const types = this.typesOf(s);
    const wrong = [1, 1.5, 'x', true, null, [], {}].filter(
      (x) => !types.includes(jsonType(x)) && !(jsonType(x) === 'integer' && types.includes('number')),
    );
    if (types.length > 0)
      opts.push(() => ({ value: pick(r, wrong), how: `${at}: wrong type (not ${types})` }));
    if (Array.isArray(s.enum) || s.const !== undefined)
      opts.push(() => ({ value: 'not_in_the_enum', how: `${at}: not in the enum` }));
    if (typeof v === 'string') {
      if (typeof s.maxLength === 'number')
        opts.push(() => ({
          value: 'y'.repeat((s.maxLength as number) + int(r, 1, 5)),
          how: `${at}: over maxLength`,
        }));
      if (typeof s.minLength === 'number' && s.minLength > 0)
        opts.push(() => ({ value: v.slice(0, (s.minLength as number) - 1), how: `${at}: under minLength` }));
      if (typeof s.pattern === 'string') {
        const re = new RegExp(s.pattern, 'u');
        const bad = ['', ' ', '../x', 'a b', '-x', '💥', 'x'.repeat(300), '1.5', 'sk_live_x'].filter(
          (c) => !re.test(c),
        );
        if (bad.length > 0)
          opts.push(() => ({ value: pick(r, bad), how: `${at}: does not match ${s.pattern}` }));
      }
    }
    if (typeof v === 'number') {
      const step = types.includes('integer') ? 1 : 0.5;
      if (typeof s.maximum === 'number')
        opts.push(() => ({ value: (s.maximum as number) + step, how: `${at}: over maximum` }));
      if (typeof s.minimum === 'number')
        opts.push(() => ({ value: (s.minimum as number) - step, how: `${at}: under minimum` }));
      if (typeof s.exclusiveMinimum === 'number')
        opts.push(() => ({ value: s.exclusiveMinimum, how: `${at}: at exclusiveMinimum` }));
      if (types.includes('integer') && !types.includes('number'))
        opts.push(() => ({ value: v + 0.5, how: `${at}: not an integer` }));
    }
    if (Array.isArray(v)) {
      if (typeof s.minItems === 'number' && s.minItems > 0)
        opts.push(() => ({ value: v.slice(0, (s.minItems as number) - 1), how: `${at}: under minItems` }));
      if (typeof s.maxItems === 'number' && s.maxItems < 2000)
        opts.push(() => ({
          value: Array.from(
            { length: (s.maxItems as number) + 1 },
            (_, i) => v[i % Math.max(v.length, 1)] ?? this.valid(s.items ?? {}),
          ),
          how: `${at}: over maxItems`,
        }));
      if (v.length > 0)
        opts.push(() => {
          const i = int(r, 0, v.length - 1);
          const m = this.#mutate(s.items ?? {}, v[i], `${at}/${i}`);
          return m && { value: v.map((x, j) => (j === i ? m.value : x)), how: m.how };
        });
    }
    if (isObj(v)) {
      const required = ((s.required as string[]) ?? []).filter((k) => k in v);
      if (required.length > 0)
        opts.push(() => {
          const k = pick(r, required);
          const { [k]: _, ...rest } = v;
          return { value: rest, how: `${at}: required ${k} dropped` };
        });
      if (s.additionalProperties === false)
        opts.push(() => ({ value: { ...v, unexpected_field: 1 }, how: `${at}: unknown field` }));
      const props = Object.keys(v).filter((k) => isObj(s.properties) && k in s.properties);
      if (props.length > 0)
        opts.push(() => {
          const k = pick(r, props);
          const m = this.#mutate((s.properties as Json)[k], v[k], `${at}/${k}`);
          return m && { value: { ...v, [k]: m.value }, how: m.how };
        });
    }
    while (opts.length > 0) {
      const m = opts.splice(Math.floor(r() * opts.length), 1)[0]?.();
      if (m !== undefined) return m;
    }
    return undefined;
  }
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** `v` as JSON text with one scalar in it (a string or number one with `only`; else a new field) replaced by raw `by`. */
function rawAt(r: Rand, v: unknown, by: string, only?: 'string' | 'number'): string {
  const sites: unknown[][] = [];
  const walk = (x: unknown, path: unknown[]) => {
    if ((only === undefined || typeof x === only) && !isObj(x) && !Array.isArray(x)) sites.push(path);
    if (Array.isArray(x)) for (const [i, y] of x.entries()) walk(y, [...path, i]);
    else if (isObj(x)) for (const [k, y] of Object.entries(x)) walk(y, [...path, k]);
  };
  walk(v, []);
  const mark = '\u0001MARK\u0001';
  if (sites.length === 0)
    return isObj(v) ? JSON.stringify({ ...v, fuzz: mark }).replace(JSON.stringify(mark), by) : by;
  const path = pick(r, sites);
  if (path.length === 0) return by;
  const copy = structuredClone(v) as Json;
  const parent = path.slice(0, -1).reduce<Json>((o, k) => o[k as string] as Json, copy);
  parent[path.at(-1) as string] = mark;
  return JSON.stringify(copy).replace(JSON.stringify(mark), by);
}

/** One request for `spec`: valid half of the time, else with one mutation (invalid or hostile). */
export function specRequest(doc: Json, spec: SpecOperation, r: Rand, options: SpecOptions = {}): SpecRequest {
  const gen = new SchemaGen(doc, r, options.values);
  const { method, template, op } = spec;
  const params = ((op.parameters as unknown[]) ?? []).map((p) => gen.deref(p));
  const requestBody = gen.deref(op.requestBody);
  const content = (requestBody.content ?? {}) as Record<string, Json>;
  const mediaTypes = Object.keys(content);
  const targets = ['body', 'path', 'query', 'header'].filter((t) =>
    t === 'body' ? mediaTypes.length > 0 : params.some((p) => p.in === t),
  );
  const target = r() < 0.5 || targets.length === 0 ? undefined : pick(r, targets);
  let kind: Kind = 'valid';
  let mutation = '';
  const broke = (k: Kind, how: string) => {
    [kind, mutation] = [k, `${target}: ${how}`];
  };

  // Parameters as sent (path segment and query value encoded): every required one and some optional ones.
  const wire = new Map<Json, string>();
  const encode = (p: Json, v: string) => (p.in === 'header' ? v : encodeURIComponent(v));
  const draw = (p: Json) => {
    let v = String(gen.valid(schemaOf(p), p.name as string));
    // A path segment of . or .. is a dot segment: the URL drops it.
    for (let i = 0; i < 5 && p.in === 'path' && (v === '.' || v === '..'); i++)
      v = String(gen.valid(schemaOf(p), p.name as string));
    return v;
  };
  for (const p of params) if (p.required === true || r() < 0.5) wire.set(p, encode(p, draw(p)));
  if (target !== undefined && target !== 'body') {
    const p = pick(
      r,
      params.filter((x) => x.in === target),
    );
    const schema = schemaOf(p);
    const ok = draw(p);
    const m =
      p.required === true && r() < 0.2 ? undefined : gen.invalid(schema, coerce(gen.typesOf(schema), ok));
    const text = m === undefined || isObj(m.value) || Array.isArray(m.value) ? undefined : String(m.value);
    const still =
      text !== undefined && validatorFor(doc, schema).validate(coerce(gen.typesOf(schema), text)).valid;
    if (target === 'path') {
      const seg = pick(r, [
        ...(text === undefined ? [] : [encodeURIComponent(text)]),
        'a'.repeat(int(r, 200, 5000)),
        ...[
          '%2F',
          `${encodeURIComponent(ok)}%2Fx`,
          '..',
          '.',
          '%2E%2E',
          '%2e',
          '%00',
          '%zz',
          '%',
          '%20',
          'a;b=c',
        ],
        ...[encodeURIComponent(`ünï${pick(r, UNICODE.slice(0, 6))}`), '%ED%A0%80', '~'],
      ]);
      wire.set(p, seg);
      broke('hostile', `${p.name} = ${seg.slice(0, 40)}`);
    } else if (m === undefined && p.required === true) {
      wire.delete(p);
      broke('invalid', `${p.name} dropped`);
    } else if (text === undefined || still || /[^\x20-\x7e]/.test(text)) {
      const odd =
        target === 'header'
          ? pick(r, [`${ok}\t${chars(r, ALNUM, 3)}`, '', ' ', 'x'.repeat(int(r, 3000, 6000))])
          : pick(r, ['', `${encodeURIComponent(ok)}&${p.name}=2`, '%zz', '%C3%BC'.repeat(int(r, 1, 2000))]);
      wire.set(p, odd);
      broke('hostile', `${p.name} = ${odd.slice(0, 40)}`);
    } else {
      wire.set(p, encode(p, text));
      broke('invalid', `${p.name}: ${m?.how}`);
    }
  }
  let path = template;
  const query: string[] = [];
  const headers: Record<string, string> = {};
  for (const p of params) {
    const v = wire.get(p);
    if (p.in === 'path') path = path.replace(`{${p.name}}`, v ?? '');
    else if (v !== undefined && p.in === 'query') query.push(`${encodeURIComponent(p.name as string)}=${v}`);
    else if (v !== undefined && p.in === 'header') headers[(p.name as string).toLowerCase()] = v;
  }
  if (query.length > 0) path += `?${query.join('&')}`;

  // The body, from the chosen media type's schema. NDJSON: the JSON form's array, one element a line. Binary
  // (octet-stream): the JSON form as the header of the binary tensor extension, else random bytes.
  const media = mediaTypes.length > 0 ? pick(r, mediaTypes) : undefined;
  let body: Uint8Array | undefined;
  if (media !== undefined && (requestBody.required === true || target === 'body' || r() < 0.7)) {
    const ndjson = /ndjson|jsonl/.test(media);
    const json = !ndjson && media.includes('json');
    // Not JSON: the binary tensor extension (its JSON header first) where the operation takes its header, else
    // the media's own string schema: random bytes when its contentMediaType says binary, else a string.
    const tensorHeader = !json && !ndjson && params.some((p) => p.name === 'inference-header-content-length');
    const opaque = !json && !ndjson && !tensorHeader;
    const own = gen.deref(content[media]?.schema);
    const schema = (json ? content[media]?.schema : content['application/json']?.schema) as Json | undefined;
    let value = gen.valid(schema ?? {});
    const sep = pick(r, ['\n', '\r\n']);
    const rowsOf = (v: unknown) =>
      ndjson && isObj(v) && Array.isArray(Object.values(v)[0])
        ? (Object.values(v)[0] as unknown[])
        : undefined;
    const serialize = (v: unknown) =>
      rowsOf(v)
        ?.map((x) => JSON.stringify(x))
        .join(sep) ?? JSON.stringify(v);
    // One value (NDJSON: one row) with `by` as raw text in place of a scalar.
    const raw = (by: string, only?: 'string' | 'number') => {
      const rows = rowsOf(value);
      if (rows === undefined || rows.length === 0) return rawAt(r, value, by, only);
      const i = int(r, 0, rows.length - 1);
      return rows.map((x, j) => (j === i ? rawAt(r, x, by, only) : JSON.stringify(x))).join(sep);
    };
    let text = serialize(value);
    if (target === 'body' && opaque) broke('hostile', 'random bytes');
    else if (target === 'body') {
      const k = r();
      const m = k < 0.45 ? gen.invalid(schema ?? {}, value) : undefined;
      if (m !== undefined) {
        [value, text] = [m.value, serialize(m.value)];
        broke(ndjson ? 'hostile' : 'invalid', m.how);
      } else if (k < 0.55) {
        text = raw(pick(r, ['NaN', 'Infinity', '-Infinity', 'nan', '0x10', '+1', '.5']));
        broke('invalid', `not a JSON number: ${text.slice(0, 60)}`);
      } else if (k < 0.62) {
        text = raw(pick(r, ['-0', '1e999', '-1e-999', '9007199254740993', '1E2']), 'number');
        broke('hostile', `odd number: ${text.slice(0, 60)}`);
      } else if (k < 0.7) {
        const n = pick(r, [70_000, 300_000, 1_100_000]);
        text = raw(JSON.stringify('z'.repeat(n)), 'string');
        broke('hostile', `huge string (${n} chars)`);
      } else if (k < 0.78) {
        const u = Array.from({ length: int(r, 1, 6) }, () => pick(r, UNICODE)).join('');
        text = raw(JSON.stringify(u), 'string');
        broke('hostile', `unicode: ${text.slice(0, 60)}`);
      } else if (k < 0.84) {
        const n = pick(r, [64, 1000, 20_000, 200_000]);
        text = raw(`${'['.repeat(n)}${']'.repeat(n)}`);
        broke('hostile', `nested ${n} deep`);
      } else if (k < 0.93) {
        const t = text;
        const cut = t.slice(0, int(r, 0, t.length - 1));
        text = pick(r, [cut, `${t}}`, t.replaceAll('"', "'"), `\ufeff${t}`, `${t},`].filter(notJson));
        broke(ndjson ? 'hostile' : 'invalid', `malformed JSON: ${text.slice(0, 60)}`);
      } else {
        headers['content-type'] = pick(r, [
          'text/plain',
          'application/x-www-form-urlencoded',
          'multipart/form-data; boundary=x',
          'application/xml',
          'application/json; charset=utf-16',
        ]);
        broke('hostile', `media type ${headers['content-type']}`);
      }
    }
    body = new TextEncoder().encode(text);
    if (opaque && (own.contentMediaType !== undefined || own.type !== 'string'))
      body = Uint8Array.from({ length: int(r, 0, target === 'body' ? 70_000 : 300) }, () => int(r, 0, 255));
    else if (opaque) body = new TextEncoder().encode(String(gen.valid(own)));
    else if (!json && !ndjson && !mutation.startsWith('header: inference-header-content-length'))
      headers['inference-header-content-length'] = String(body.length);
    headers['content-type'] ??= media === '*/*' ? 'application/octet-stream' : media;
    if (headers['content-encoding'] === 'gzip' && kind === 'valid') body = gzipSync(body);
  }

  // The key: one with the route's scopes most of the time; else none, an infer-only key or a bogus one.
  const scopes = (op['x-required-scopes'] as string[] | undefined) ?? [];
  const bearer = JSON.stringify(op.security ?? []).includes('"bearer"');
  const a = r();
  const auth: SpecRequest['auth'] =
    !bearer || options.keys === undefined
      ? 'none'
      : a < 0.8
        ? 'scoped'
        : a < 0.87
          ? 'none'
          : a < 0.94
            ? 'infer'
            : 'bogus';
  const { admin, infer } = options.keys ?? {};
  const plain = scopes.length === 0 || scopes.includes('infer');
  const key = {
    scoped: plain ? (infer ?? admin) : (admin ?? infer),
    infer,
    none: undefined,
    bogus: pick(r, [`sk_dev_${chars(r, ALNUM, 36)}`, 'x', `${infer ?? ''}x`]),
  }[auth];
  if (key !== undefined)
    headers.authorization = auth === 'bogus' && r() < 0.3 ? `Basic ${key}` : `Bearer ${key}`;

  const url = new URL(path, 'http://fuzz.invalid');
  return {
    method,
    path: `${url.pathname}${url.search}`,
    headers,
    body: body === undefined ? undefined : Uint8Array.from(body),
    operation: `${method} ${template}`,
    kind,
    mutation,
    auth,
  };
}

function notJson(text: string): boolean {
  try {
    JSON.parse(text);
    return false;
  } catch {
    return true;
  }
}

const nonEmpty = new WeakMap<Json, Json>();

/** A parameter's schema; a path parameter's is never empty (an empty segment is another route). */
function schemaOf(p: Json): Json {
  const s = (p.schema ?? {}) as Json;
  if (p.in !== 'path' || typeof s.minLength === 'number') return s;
  let n = nonEmpty.get(s);
  if (n === undefined) {
    n = { ...s, minLength: 1 };
    nonEmpty.set(s, n);
  }
  return n;
}

/** A parameter's text as the JSON value its schema types (query and header values are text on the wire). */
function coerce(types: string[], text: string): unknown {
  return (types.includes('integer') || types.includes('number')) && /^-?\d+(\.\d+)?$/.test(text)
    ? Number(text)
    : text;
}
