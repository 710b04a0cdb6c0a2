import { describe, expect, it } from 'vitest';
import { appOperations, Contract } from './contract.ts';

const doc = {
  openapi: '3.1.0',
  'x-errors-before-routing': { 401: ['unauthorized'] },
  info: { title: 't', version: '1' },
  components: {
    headers: { 'x-request-id': { required: true, schema: { type: 'string' } } },
    schemas: {
      Error: {
        type: 'object',
        properties: {
          error: {
            type: 'object',
            properties: {
              code: { type: 'string' },
              message: { type: 'string' },
              request_id: { type: 'string' },
            },
            required: ['code', 'message', 'request_id'],
          },
        },
        required: ['error'],
      },
      Job: {
        type: 'object',
        properties: { id: { type: 'string' }, rows: { type: 'integer' } },
        required: ['id'],
      },
    },
  },
  paths: {
    '/v1/jobs/{id}': {
      get: {
        responses: {
          200: {
            headers: {
              'x-request-id': { $ref: '#/components/headers/x-request-id' },
              'RateLimit-Remaining': { schema: { type: 'integer', minimum: 0 } },
            },
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Job' } } },
          },
          404: {
            content: {
              'application/json': {
                schema: {
                  allOf: [
                    { $ref: '#/components/schemas/Error' },
                    { properties: { error: { properties: { code: { enum: ['not_found'] } } } } },
                  ],
                },
              },
            },
          },
        },
      },
    },
    '/v1/jobs/webhook-secret': { get: { responses: { 200: { content: { 'text/plain': {} } } } } },
    '/v1/jobs/{id}/results': {
      get: {
        responses: {
          200: {
            content: {
              'application/x-ndjson': {
                schema: { type: 'string' },
                'x-item-schema': { $ref: '#/components/schemas/Job' },
              },
            },
          },
        },
      },
    },
  },
};

const json = (body: unknown, extra: Record<string, string> = {}) => ({
  headers: new Headers({ 'content-type': 'application/json; charset=UTF-8', 'x-request-id': 'r', ...extra }),
  body: JSON.stringify(body),
});

describe('Contract', () => {
  const c = new Contract(doc);

  it('passes an answer that is what the document says', () => {
    expect(
      c.check({ method: 'GET', path: '/v1/jobs/j1?x=1', status: 200, ...json({ id: 'j1', rows: 3 }) }),
    ).toEqual([]);
  });

  it('names a body that does not fit, a missing required header and a header of the wrong type', () => {
    const [body] = c.check({ method: 'GET', path: '/v1/jobs/j1', status: 200, ...json({ rows: 'three' }) });
    expect(body).toMatch(/GET \/v1\/jobs\/\{id\} -> 200: body/);
    const missing = c.check({
      method: 'GET',
      path: '/v1/jobs/j1',
      status: 200,
      headers: new Headers({ 'content-type': 'application/json' }),
      body: '{"id":"a"}',
    });
    expect(missing).toEqual(['GET /v1/jobs/{id} -> 200: required header x-request-id missing']);
    const bad = c.check({
      method: 'GET',
      path: '/v1/jobs/j1',
      status: 200,
      ...json({ id: 'a' }, { 'RateLimit-Remaining': '-1' }),
    });
    expect(bad[0]).toMatch(/header RateLimit-Remaining/);
  });

  it('refuses an undocumented status and an error code not listed for it', () => {
    expect(c.check({ method: 'GET', path: '/v1/jobs/j1', status: 500, ...json({}) })).toEqual([
      'GET /v1/jobs/{id} -> 500: status not documented',
    ]);
    const err = (code: string) => json({ error: { code, message: 'm', request_id: 'r' } });
    expect(c.check({ method: 'GET', path: '/v1/jobs/j1', status: 404, ...err('not_found') })).toEqual([]);
    expect(
      c.check({ method: 'GET', path: '/v1/jobs/j1', status: 404, ...err('model_not_found') })[0],
    ).toMatch(/body/);
  });

  it('matches literal segments before parameters, and checks the media type', () => {
    expect(c.route('/v1/jobs/webhook-secret')?.template).toBe('/v1/jobs/webhook-secret');
    const wrong = c.check({ method: 'GET', path: '/v1/jobs/webhook-secret', status: 200, ...json({}) });
    expect(wrong[0]).toMatch(/content-type application\/json not documented/);
  });

  it('takes 404 not_found for unknown paths and 404/405 for undocumented methods as the fallback', () => {
    const err = (code: string) => json({ error: { code, message: 'm', request_id: 'r' } });
    expect(c.check({ method: 'GET', path: '/nope', status: 404, ...err('not_found') })).toEqual([]);
    expect(c.check({ method: 'DELETE', path: '/v1/jobs/j1/x', status: 404, ...err('not_found') })).toEqual(
      [],
    );
    expect(
      c.check({ method: 'PUT', path: '/v1/jobs/j1', status: 405, ...err('method_not_allowed') }),
    ).toEqual([]);
    expect(c.check({ method: 'PUT', path: '/v1/jobs/j1', status: 200, ...json({}) })[0]).toMatch(
      /method not documented/,
    );
    expect(c.check({ method: 'GET', path: '/nope', status: 404, ...err('forbidden') })[0]).toMatch(
      /not the documented/,
    );
  });

  it("holds each line of an NDJSON body to the media type's x-item-schema", () => {
    const ndjson = (body: string) => ({
      method: 'GET',
      path: '/v1/jobs/j1/results',
      status: 200,
      headers: new Headers({ 'content-type': 'application/x-ndjson' }),
      body,
    });
    expect(c.check(ndjson('{"id":"a"}\n{"id":"b","rows":2}\n'))).toEqual([]);
    expect(c.check(ndjson('{"id":"a"}\n{"rows":2}\n'))[0]).toMatch(/NDJSON line 2/);
    expect(c.check(ndjson('{"id":"a"}\nnope\n'))[0]).toMatch(/NDJSON line 2 is not JSON/);
  });

  it('takes a trailing slash as another path, and the checks before routing as a fallback too', () => {
    const err = (code: string) => json({ error: { code, message: 'm', request_id: 'r' } });
    expect(c.route('/v1/jobs/j1/')).toBeUndefined();
    expect(c.check({ method: 'GET', path: '/v1/jobs/j1/', status: 404, ...err('not_found') })).toEqual([]);
    expect(c.check({ method: 'GET', path: '/v1/nope', status: 401, ...err('unauthorized') })).toEqual([]);
    expect(c.check({ method: 'GET', path: '/v1/nope', status: 401, ...err('key_revoked') })[0]).toMatch(
      /not the documented unauthorized error/,
    );
    expect(c.check({ method: 'GET', path: '/v1/nope', status: 200, ...json({}) })[0]).toMatch(/no such path/);
  });

  it('holds a HEAD answer to its GET, headers only', () => {
    const head = (status: number) => ({
      method: 'HEAD',
      path: '/v1/jobs/j1',
      status,
      headers: new Headers({ 'content-type': 'application/json', 'x-request-id': 'r' }),
      body: '',
    });
    expect(c.check(head(200))).toEqual([]);
    expect(c.check({ ...head(200), headers: new Headers() })[0]).toMatch(
      /required header x-request-id missing/,
    );
    expect(c.check(head(500))[0]).toMatch(/status not documented/);
    expect(c.check({ ...head(404), path: '/nope' })).toEqual([]);
  });

  it("lists a Hono app's operations in the document's syntax, without middleware and catch-alls", () => {
    const routes = [
      { method: 'ALL', path: '/v1/*' },
      { method: 'GET', path: '/v1/jobs/:id' },
      { method: 'POST', path: '/v1/models/:model/versions/:version/jobs' },
      { method: 'GET', path: '/v1/jobs/:id' },
    ];
    expect(appOperations(routes)).toEqual([
      'GET /v1/jobs/{id}',
      'POST /v1/models/{model}/versions/{version}/jobs',
    ]);
    expect(c.operations()).toContain('GET /v1/jobs/{id}');
  });

  it('refuses a document that is not OpenAPI 3.1', () => {
    expect(() => new Contract({ openapi: '3.0.0' })).toThrow(TypeError);
  });
});
