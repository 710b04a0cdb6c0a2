/**
 * Building blocks of the OpenAPI 3.1 documents (edge/src/openapi, origin/src/openapi): the one error shape, the
 * per-route error responses (each status lists exactly the codes the route can return, so a contract test fails on
 * an undocumented code), the contract headers and the security schemes. The documents are generated from the zod
 * schemas the code validates with (@asteasolutions/zod-to-openapi) and committed; nothing here runs on a request.
 */
import {
  type OpenAPIRegistry,
  OpenApiGeneratorV31,
  type ResponseConfig,
  type RouteConfig,
  zodToOpenAPIRegistry,
} from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { ERROR_STATUS, type ErrorCode } from '../errors/index.ts';

/** What each stable error code means (documented on the ErrorCode schema). */
export const ERROR_MEANING: Record<ErrorCode, string> = {
  bad_request: 'the request is not one this route can serve',
  invalid_json: 'the body is not valid JSON',
  invalid_input: 'the body or a parameter is not a valid request (the message names the field)',
  invalid_header: 'a header is malformed (Authorization, cache-control, Idempotency-Key, x-escalate, ...)',
  unauthorized: 'no API key, or an unknown one (WWW-Authenticate says which)',
  key_expired: 'the API key is past its expiry',
  key_disabled: 'the API key or its tenant is disabled',
  key_revoked: 'the API key was revoked',
  forbidden: "the key's scopes, models or tenant do not cover this request",
  not_found: 'no such route or resource',
  model_not_found: 'no such model, or no such version of it',
  method_not_allowed: 'the route exists for another method',
  conflict: 'the resource exists with other content, or the change conflicts with its state',
  payload_too_large: 'the body, an item or the item count is over its limit',
  unsupported_media_type: 'the Content-Type is not one this route accepts',
  rate_limited: "the key's or tenant's request rate is over its limit (Retry-After)",
  queue_full: "the server's queue is full (Retry-After)",
  quota_exceeded: "the tenant's daily quota is spent (Retry-After)",
  internal: 'a bug: reported, never expected',
  bad_gateway: 'an upstream answered something unusable',
  unavailable: 'a dependency is down or the service is misconfigured (Retry-After)',
  not_ready: 'the model or server is starting or draining (Retry-After)',
  deadline_exceeded: "the request's deadline passed before an answer was ready",
};

const CODES = Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]];

export const ErrorCodeSchema = z.enum(CODES).meta({
  description: `Stable error codes (clients switch on them; codes are added, never renamed):\n${CODES.map(
    (c) => `- \`${c}\` (${ERROR_STATUS[c]}): ${ERROR_MEANING[c]}`,
  ).join('\n')}`,
});

/** The one error shape of both tiers: `{error: {code, message, request_id}}`. */
export const ErrorSchema = z.object({
  error: z.object({
    code: ErrorCodeSchema,
    message: z.string().meta({ description: 'For people: never parse it' }),
    request_id: z.string().meta({ description: 'The x-request-id of the request (quote it in bug reports)' }),
  }),
});

/** A response header as the document describes it (name -> object; `required` ones are checked by the contract). */
export interface HeaderSpec {
  description: string;
  required?: boolean;
  schema: { type: 'string' | 'integer'; enum?: string[]; pattern?: string; minimum?: number };
}

export const HEADERS = {
  'x-request-id': {
    description: "The request's id (the client's x-request-id when it sent a sane one, else a new UUID)",
    required: true,
    schema: { type: 'string' },
  },
  'RateLimit-Limit': {
    description:
      'Requests the key may make per window (IETF RateLimit headers; absent when the limiter is off)',
    schema: { type: 'integer', minimum: 0 },
  },
  'RateLimit-Remaining': {
    description: 'Requests left in the current window',
    schema: { type: 'integer', minimum: 0 },
  },
  'RateLimit-Reset': {
    description: 'Seconds until the window resets',
    schema: { type: 'integer', minimum: 0 },
  },
  'Retry-After': {
    description: 'Seconds to wait before retrying (429 and 503 answers carry it)',
    required: true,
    schema: { type: 'integer', minimum: 0 },
  },
  'WWW-Authenticate': {
    description:
      'Bearer challenge: `error="invalid_token"` for an unknown key, `error="invalid_request"` for a malformed header',
    required: true,
    schema: { type: 'string' },
  },
} satisfies Record<string, HeaderSpec>;

/** Header specs as the generator's type (they are OpenAPI header objects already). */
export function responseHeaders(headers: Record<string, HeaderSpec>): ResponseConfig['headers'] {
  return headers as ResponseConfig['headers'];
}

/** Headers every answer of an authenticated, rate-limited route may carry. */
export const LIMITED_HEADERS = {
  'x-request-id': HEADERS['x-request-id'],
  'RateLimit-Limit': HEADERS['RateLimit-Limit'],
  'RateLimit-Remaining': HEADERS['RateLimit-Remaining'],
  'RateLimit-Reset': HEADERS['RateLimit-Reset'],
};

/** Headers of an answer of a route with no key. */
export const OPEN_HEADERS = { 'x-request-id': HEADERS['x-request-id'] };

export type ErrorsByStatus = Partial<Record<number, readonly ErrorCode[]>>;

/** Merges error lists status by status (codes deduplicated, in order). */
export function mergeErrors(...lists: ErrorsByStatus[]): ErrorsByStatus {
  const out: Record<number, ErrorCode[]> = {};
  for (const list of lists) {
    for (const [status, codes] of Object.entries(list)) {
      const s = Number(status);
      const have = out[s] ?? [];
      for (const c of codes ?? []) if (!have.includes(c)) have.push(c);
      out[s] = have;
    }
  }
  return out;
}

/** The errors list of `codes`, grouped by their statuses. */
export function errorsOf(...codes: ErrorCode[]): ErrorsByStatus {
  const out: Record<number, ErrorCode[]> = {};
  for (const c of codes) {
    const list = out[ERROR_STATUS[c]] ?? [];
    list.push(c);
    out[ERROR_STATUS[c]] = list;
  }
  return out;
}

/**
 * Error responses, one per status, each with the error schema narrowed to exactly the codes listed for it (a code
 * the route returns that is not listed fails the contract tests).
 */
export function errorResponses(
  errors: ErrorsByStatus,
  headers: Record<string, HeaderSpec> = OPEN_HEADERS,
): Record<string, ResponseConfig> {
  const out: Record<string, ResponseConfig> = {};
  for (const [status, codes] of Object.entries(errors)) {
    if (codes === undefined || codes.length === 0) continue;
    const s = Number(status);
    const extra: Record<string, HeaderSpec> = {};
    if (s === 429 || s === 503) extra['Retry-After'] = HEADERS['Retry-After'];
    if (s === 401) extra['WWW-Authenticate'] = HEADERS['WWW-Authenticate'];
    out[status] = {
      // The codes' meanings are on the ErrorCode schema, written once.
      description: `Error: ${codes.map((c) => `\`${c}\``).join(', ')}`,
      headers: responseHeaders({ ...headers, ...extra }),
      content: {
        'application/json': {
          schema: {
            allOf: [
              { $ref: '#/components/schemas/Error' },
              {
                type: 'object',
                properties: { error: { type: 'object', properties: { code: { enum: [...codes] } } } },
              },
            ],
          },
        },
      },
    };
  }
  return out;
}

/** A JSON answer: the schema, its description and its headers. */
export function jsonResponse(
  description: string,
  schema: z.ZodType,
  headers: Record<string, HeaderSpec> = OPEN_HEADERS,
): ResponseConfig {
  return { description, headers: responseHeaders(headers), content: { 'application/json': { schema } } };
}

/** The scopes a key may carry (edge/src/tenants). */
export const SCOPES = ['infer', 'reviewer', 'tenant_admin', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/**
 * Bearer security needing any one of `scopes` (OAS 3.1 lets a non-OAuth requirement list role names), also said in
 * `x-required-scopes` for tools that ignore them.
 */
export function needs(...scopes: Scope[]): Pick<RouteConfig, 'security'> & { 'x-required-scopes': Scope[] } {
  return { security: [{ bearer: scopes }, { session: scopes }], 'x-required-scopes': scopes };
}

/** Security schemes of the edge: the API key as a bearer token, and the web console's session cookie. */
export function registerSecuritySchemes(registry: OpenAPIRegistry): void {
  registry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description:
      'An API key (`Authorization: Bearer <key>`), shown once when created (`POST /v1/admin/keys`). Its scopes ' +
      '(infer, reviewer, tenant_admin, admin) decide which routes it may call: each route lists the scopes that ' +
      'let a key in (any one of them).',
  });
  registry.registerComponent('securitySchemes', 'session', {
    type: 'apiKey',
    in: 'cookie',
    name: '__Host-console',
    description:
      "The web console's session (POST /console/session exchanges a key for it): it stands for that key, with its " +
      'scopes. Calls other than GET/HEAD made with it must come from the same origin and carry `x-csrf-token` ' +
      "(the session's token) or are 403.",
  });
}

/**
 * Names a schema: it becomes `components/schemas/{id}` and every use of it, nested ones included, a `$ref`. The
 * instance itself is named (in zod-to-openapi's registry, which only the generator reads), so name the schemas the
 * code validates with; idempotent.
 */
export function named<T extends z.ZodType>(schema: T, id: string): T {
  const have = zodToOpenAPIRegistry.get(schema) as { _internal?: { refId?: string } } | undefined;
  const refId = have?._internal?.refId;
  if (refId === id) return schema;
  if (refId !== undefined) throw new TypeError(`named: schema is already named '${refId}', not '${id}'`);
  zodToOpenAPIRegistry.add(schema, { ...have, _internal: { ...have?._internal, refId: id } });
  return schema;
}

/**
 * The error schemas as generator definitions (the error responses refer to `Error` by `$ref`, so nothing else
 * would pull it in): `new OpenApiGeneratorV31([...registry.definitions, ...errorDefinitions()])`.
 */
export function errorDefinitions(): ConstructorParameters<typeof OpenApiGeneratorV31>[0] {
  named(ErrorCodeSchema, 'ErrorCode');
  return [{ type: 'schema', schema: named(ErrorSchema, 'Error') }];
}

/**
 * Moves the response headers of a generated document into `components/headers`, one per header name, and refers to
 * them (`$ref`): the same header on every route is written once. A name whose specs differ between routes keeps its
 * most used spec as the component; the others stay inline.
 */
export function withHeaderComponents(generated: Record<string, unknown>): Record<string, unknown> {
  type Headers = Record<string, unknown>;
  // A copy: the generator hands back the header objects of the route specs themselves (module constants).
  const doc = JSON.parse(JSON.stringify(generated)) as Record<string, unknown>;
  const responses: Array<{ headers: Headers }> = [];
  const paths = (doc.paths ?? {}) as Record<string, Record<string, { responses?: Record<string, unknown> }>>;
  for (const item of Object.values(paths)) {
    for (const op of Object.values(item)) {
      for (const r of Object.values(op.responses ?? {})) {
        const headers = (r as { headers?: Headers }).headers;
        if (headers !== undefined) responses.push(r as { headers: Headers });
      }
    }
  }
  const counts = new Map<string, Map<string, number>>();
  for (const r of responses) {
    for (const [name, spec] of Object.entries(r.headers)) {
      const key = JSON.stringify(spec);
      const byName = counts.get(name) ?? new Map<string, number>();
      byName.set(key, (byName.get(key) ?? 0) + 1);
      counts.set(name, byName);
    }
  }
  const components: Headers = {};
  const chosen = new Map<string, string>();
  for (const [name, byName] of [...counts].sort(([a], [b]) => a.localeCompare(b))) {
    const [key] = [...byName].sort((a, b) => b[1] - a[1])[0] as [string, number];
    chosen.set(name, key);
    components[name] = JSON.parse(key);
  }
  for (const r of responses) {
    for (const [name, spec] of Object.entries(r.headers)) {
      if (chosen.get(name) === JSON.stringify(spec))
        r.headers[name] = { $ref: `#/components/headers/${name}` };
    }
  }
  const existing = (doc.components ?? {}) as Record<string, unknown>;
  return withErrorResponseComponents({ ...doc, components: { ...existing, headers: components } });
}

/**
 * Error responses that several routes share (the same status, codes and headers) become one entry of
 * `components/responses`, named by the status and codes (`401.unauthorized.key_expired...`), and the routes refer
 * to it: the document states each combination once.
 */
function withErrorResponseComponents(doc: Record<string, unknown>): Record<string, unknown> {
  type Responses = Record<string, unknown>;
  const paths = (doc.paths ?? {}) as Record<string, Record<string, { responses?: Responses }>>;
  const all: Array<{ responses: Responses; status: string }> = [];
  const uses = new Map<string, number>();
  for (const item of Object.values(paths)) {
    for (const op of Object.values(item)) {
      for (const status of Object.keys(op.responses ?? {})) {
        if (Number(status) < 400) continue;
        const key = JSON.stringify((op.responses as Responses)[status]);
        uses.set(key, (uses.get(key) ?? 0) + 1);
        all.push({ responses: op.responses as Responses, status });
      }
    }
  }
  const components: Responses = {};
  const names = new Map<string, string>();
  for (const { responses, status } of all) {
    const response = responses[status] as { content?: Record<string, { schema?: { allOf?: unknown[] } }> };
    const key = JSON.stringify(response);
    if ((uses.get(key) ?? 0) < 2) continue;
    let name = names.get(key);
    if (name === undefined) {
      const narrowed = response.content?.['application/json']?.schema?.allOf?.[1] as
        | { properties?: { error?: { properties?: { code?: { enum?: string[] } } } } }
        | undefined;
      const base = [status, ...(narrowed?.properties?.error?.properties?.code?.enum ?? [])].join('.');
      name = base;
      for (let i = 2; components[name] !== undefined; i++) name = `${base}.${i}`;
      names.set(key, name);
      components[name] = response;
    }
    responses[status] = { $ref: `#/components/responses/${name}` };
  }
  const existing = (doc.components ?? {}) as Record<string, unknown>;
  return { ...doc, components: { ...existing, responses: components } };
}

/**
 * Puts a named schema that no route refers to (an NDJSON line's) under components/schemas: generated by the same
 * generator, so its `$ref`s point at the document's components.
 */
export function registerSchema(registry: OpenAPIRegistry, schema: z.ZodType): void {
  const meta = zodToOpenAPIRegistry.get(schema) as { _internal?: { refId?: string } } | undefined;
  const refId = meta?._internal?.refId;
  if (refId === undefined) throw new TypeError('registerSchema: name the schema first (named())');
  const { components } = new OpenApiGeneratorV31([{ type: 'schema', schema }]).generateComponents();
  const generated = components?.schemas?.[refId];
  if (generated === undefined) throw new TypeError(`registerSchema: ${refId} was not generated`);
  registry.registerComponent('schemas', refId, generated);
}

/** The extension naming the schema of each line of an NDJSON body (OpenAPI 3.1 has no item schema; 3.2's `itemSchema`). */
export const NDJSON_ITEM = 'x-item-schema';

/**
 * An NDJSON media type: a string body described in words, and in `x-item-schema` the `$ref` of the schema every
 * line holds to (registered with registerSchema); the contract tests check each line against it.
 */
export function ndjsonMedia(
  itemRefId: string,
  description: string,
): { schema: { type: 'string'; description: string } } {
  return {
    schema: { type: 'string', description },
    [NDJSON_ITEM]: { $ref: `#/components/schemas/${itemRefId}` },
  } as { schema: { type: 'string'; description: string } };
}
