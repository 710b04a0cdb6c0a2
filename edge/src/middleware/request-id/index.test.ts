import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { AppEnv } from '../../types.ts';
import { requestId } from './index.ts';

function app(lines: string[]) {
  const a = new Hono<AppEnv>();
  a.use(requestId({ write: (l) => lines.push(l) }));
  a.get('/ok', (c) => {
    c.get('log').served_by = 'edge';
    c.get('log').confidence = 0.97;
    return c.json({ id: c.get('requestId'), trace: c.get('trace').traceId });
  });
  a.get('/fail', () => {
    throw new Error('boom');
  });
  a.onError((_e, c) => c.json({ error: 'x' }, 500));
  return a;
}

describe('requestId middleware', () => {
  it('generates a request id and a traceparent, returns both, and logs one JSON line', async () => {
    const lines: string[] = [];
    const res = await app(lines).request('/ok');
    const body = (await res.json()) as { id: string; trace: string };
    expect(res.headers.get('x-request-id')).toBe(body.id);
    expect(body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get('traceparent')).toMatch(new RegExp(`^00-${body.trace}-[0-9a-f]{16}-01$`));
    expect(lines).toHaveLength(1);
    const log = JSON.parse(lines[0] as string);
    expect(log).toMatchObject({
      msg: 'request',
      request_id: body.id,
      trace_id: body.trace,
      method: 'GET',
      path: '/ok',
      status: 200,
    });
    expect(log).toMatchObject({ served_by: 'edge', confidence: 0.97 });
    expect(typeof log.latency_ms).toBe('number');
  });

  it('keeps a well-formed caller request id and continues the caller trace', async () => {
    const lines: string[] = [];
    const res = await app(lines).request('/ok', {
      headers: {
        'x-request-id': 'caller-123',
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      },
    });
    expect(res.headers.get('x-request-id')).toBe('caller-123');
    expect(res.headers.get('traceparent')).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    expect(res.headers.get('traceparent')).not.toContain('00f067aa0ba902b7');
  });

  it('replaces a malformed caller request id', async () => {
    const res = await app([]).request('/ok', { headers: { 'x-request-id': 'bad id with spaces <script>' } });
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('logs errors at level error with their status', async () => {
    const lines: string[] = [];
    const res = await app(lines).request('/fail');
    expect(res.status).toBe(500);
    expect(res.headers.get('x-request-id')).toBeTruthy();
    expect(JSON.parse(lines[0] as string)).toMatchObject({ level: 'error', status: 500 });
  });

  it('rejects a write option that is not a function', () => {
    expect(() => requestId({ write: 'x' as unknown as (l: string) => void })).toThrow(
      /write must be a function/,
    );
  });
});
