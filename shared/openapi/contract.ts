/**
 * Holds answers to an OpenAPI 3.1 document: for one response (method, path, status, headers, body) the problems
 * found, empty when it is what the document says. The route is found by its path template (literal segments win
 * over parameters; a trailing slash is another path), the response by its status; the response's required headers must be there and every documented
 * header that is there must fit its schema; a JSON body must fit the media type's schema, and each line of an NDJSON
 * body the media type's `x-item-schema` (JSON Schema 2020-12,
 * @cfworker/json-schema: no code generation, so it runs in workerd too). An unknown path answered 404 `not_found`,
 * or a known path answered 404/405 for a method it does not document, is the app's documented fallback, and so is
 * the refusal of a check the app makes before routing (`beforeRouting`).
 * Runs in workerd and Node; used by the contract tests of both tiers.
 */
import { type Schema, Validator } from '@cfworker/json-schema';

type Json = Record<string, unknown>;

interface Operation {
  responses?: Record<string, Json>;
}

interface Route {
  template: string;
  re: RegExp;
  literals: number;
  methods: Record<string, Operation>;
}

export interface ResponseSample {
  method: string;
  /** The request path (query ignored). */
  path: string;
  status: number;
  headers: Headers;
  /** The body as text (undefined or '' when empty). */
  body: string | undefined;
}

/** The document extension listing, by status, the error codes an unrouted request can get (see Contract). */
export const BEFORE_ROUTING = 'x-errors-before-routing';

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function mediaTypeOf(contentType: string | null): string | undefined {
  const t = contentType?.split(';')[0]?.trim().toLowerCase();
  return t === undefined || t === '' ? undefined : t;
}

export class Contract {
  readonly #doc: Json;
  readonly #routes: Route[];
  readonly #validators = new Map<string, Validator>();

  readonly #beforeRouting: Partial<Record<number, string[]>>;

  /**
   * @param doc the document; its `x-errors-before-routing` (status -> codes) lists the refusals of checks the app
   * makes before it routes (auth, rate limits), which an unknown path or method can get instead of 404/405.
   */
  constructor(doc: Json) {
    this.#beforeRouting = (doc?.[BEFORE_ROUTING] ?? {}) as Partial<Record<number, string[]>>;
    if (typeof doc?.openapi !== 'string' || !doc.openapi.startsWith('3.1')) {
      throw new TypeError(`Contract: expected an OpenAPI 3.1 document, got openapi=${String(doc?.openapi)}`);
    }
    this.#doc = doc;
    const paths = (doc.paths ?? {}) as Record<string, Json>;
    this.#routes = Object.entries(paths)
      .map(([template, item]) => {
        const segments = template.split('/');
        const re = new RegExp(
          `^${segments.map((s) => (/^\{[^}]+\}$/.test(s) ? '[^/]+' : escapeRegExp(s))).join('/')}$`,
        );
        const methods: Record<string, Operation> = {};
        for (const m of METHODS) if (item[m] !== undefined) methods[m] = item[m] as Operation;
        return { template, re, literals: segments.filter((s) => !s.startsWith('{')).length, methods };
      })
      .sort((a, b) => b.literals - a.literals);
  }

  /** Every `METHOD /template` the document describes. */
  operations(): string[] {
    return this.#routes.flatMap((r) => Object.keys(r.methods).map((m) => `${m.toUpperCase()} ${r.template}`));
  }

  /** The route template a request path matches, or undefined. */
  route(path: string): Route | undefined {
    const p = path.split('?')[0] as string;
    return this.#routes.find((r) => r.re.test(p));
  }

  /** Problems of one answer (empty: it holds to the document). */
  check(sample: ResponseSample): string[] {
    const route = this.route(sample.path);
    // HEAD is GET without a body (RFC 9110): its answer is held to GET's, headers only.
    const head = sample.method.toUpperCase() === 'HEAD';
    const method = head ? 'get' : sample.method.toLowerCase();
    const what = `${sample.method.toUpperCase()} ${sample.path.split('?')[0]} -> ${sample.status}`;
    const op = route?.methods[method];
    if (route === undefined || op === undefined) {
      // The app's fallback: 404 not_found (405 for a known path), or, where the app checks the caller before it
      // routes, that check's refusal (never a success).
      const codes = [
        ...(sample.status === 404 ? ['not_found'] : []),
        ...(sample.status === 405 && route !== undefined ? ['method_not_allowed'] : []),
        ...(this.#beforeRouting[sample.status] ?? []),
      ];
      if (codes.length === 0) {
        return [`${what}: ${route === undefined ? 'no such path' : 'method not documented'} in the document`];
      }
      return head ? [] : this.#checkError(what, sample, codes);
    }
    const where = `${sample.method.toUpperCase()} ${route.template} -> ${sample.status}`;
    const response = this.#resolve(op.responses?.[String(sample.status)] ?? op.responses?.default) as
      | Json
      | undefined;
    if (response === undefined) return [`${where}: status not documented`];
    const problems: string[] = [];
    const headers = (response.headers ?? {}) as Record<string, Json>;
    for (const [name, ref] of Object.entries(headers)) {
      const spec = this.#resolve(ref) as Json;
      const value = sample.headers.get(name);
      if (value === null) {
        if (spec.required === true) problems.push(`${where}: required header ${name} missing`);
        continue;
      }
      const schema = (spec.schema ?? {}) as Json;
      const typed = schema.type === 'integer' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
      const errors = this.#validate(`header:${name}:${JSON.stringify(schema)}`, schema, typed);
      if (errors !== undefined) problems.push(`${where}: header ${name}: ${JSON.stringify(value)} ${errors}`);
    }
    const content = response.content as Record<string, Json> | undefined;
    const body = sample.body ?? '';
    if (head) return problems;
    if (content === undefined) {
      if (body !== '' && sample.status !== 304) problems.push(`${where}: body where the document has none`);
      return problems;
    }
    const type = mediaTypeOf(sample.headers.get('content-type'));
    const media = type === undefined ? undefined : content[type];
    if (type === undefined || media === undefined) {
      problems.push(
        `${where}: content-type ${String(type)} not documented (${Object.keys(content).join(', ')})`,
      );
      return problems;
    }
    const item = media['x-item-schema'] as Json | undefined;
    if (item !== undefined) {
      // NDJSON: every line holds to the item schema.
      const key = `${route.template} ${method} ${sample.status} ${type} item`;
      const lines = body.split('\n');
      for (let i = 0; i < lines.length; i++) {
        const text = lines[i] as string;
        if (text.trim() === '') continue;
        let line: unknown;
        try {
          line = JSON.parse(text);
        } catch {
          problems.push(`${where}: NDJSON line ${i + 1} is not JSON`);
          break;
        }
        const errors = this.#validate(key, item, line);
        if (errors !== undefined) {
          problems.push(`${where}: NDJSON line ${i + 1} ${errors}`);
          break;
        }
      }
    }
    if (type === 'application/json') {
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        problems.push(`${where}: body is not JSON`);
        return problems;
      }
      const schema = (media.schema ?? {}) as Json;
      const key = `${route.template} ${method} ${sample.status} ${type}`;
      const errors = this.#validate(key, schema, json);
      if (errors !== undefined) problems.push(`${where}: body ${errors}`);
    }
    return problems;
  }

  #checkError(what: string, sample: ResponseSample, codes: string[]): string[] {
    let code: unknown;
    try {
      code = (JSON.parse(sample.body ?? '') as { error?: { code?: unknown } }).error?.code;
    } catch {
      code = undefined;
    }
    const errors = this.#validate(
      'Error',
      { $ref: '#/components/schemas/Error' },
      JSON.parse(sample.body || '{}'),
    );
    if (errors !== undefined || typeof code !== 'string' || !codes.includes(code)) {
      return [`${what}: not the documented ${codes.join('/')} error (${errors ?? String(code)})`];
    }
    return [];
  }

  #resolve(node: unknown): unknown {
    let n = node;
    for (let i = 0; i < 8 && typeof n === 'object' && n !== null && '$ref' in n; i++) {
      const ref = (n as { $ref: string }).$ref;
      if (!ref.startsWith('#/')) throw new TypeError(`Contract: only local $refs, got ${ref}`);
      n = ref
        .slice(2)
        .split('/')
        .reduce<unknown>(
          (o, k) => (o as Json | undefined)?.[k.replaceAll('~1', '/').replaceAll('~0', '~')],
          this.#doc,
        );
    }
    return n;
  }

  /** undefined when `value` fits `schema`, else the validator's first errors as text. */
  #validate(key: string, schema: Json, value: unknown): string | undefined {
    let v = this.#validators.get(key);
    if (v === undefined) {
      // The schema with the document's components beside it, so `#/components/...` refs resolve.
      const root = { ...schema, components: this.#doc.components } as unknown as Schema;
      v = new Validator(root, '2020-12', false);
      this.#validators.set(key, v);
    }
    const result = v.validate(value);
    if (result.valid) return undefined;
    return result.errors
      .filter((e) => !e.error.startsWith('A subschema had errors') && !e.error.includes('allOf'))
      .slice(0, 3)
      .map((e) => `${e.instanceLocation}: ${e.error}`)
      .join('; ');
  }
}

/**
 * `METHOD /path/{param}` of every route a Hono app registers (`app.routes`), middleware and catch-alls (`ALL`)
 * left out: what the document's operations must equal. A param's pattern (`:view{a|b}`) is the document's to say.
 */
export function appOperations(routes: ReadonlyArray<{ method: string; path: string }>): string[] {
  const ops = new Set<string>();
  for (const r of routes) {
    if (r.method !== 'ALL') ops.add(`${r.method} ${r.path.replace(/:(\w+)(\{[^}]*\})?/g, '{$1}')}`);
  }
  return [...ops].sort();
}
