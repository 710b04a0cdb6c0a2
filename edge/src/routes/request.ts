/** Request reading and header parsing shared by the edge's routes: every bad input is a 4xx in the shared shape. */
import type { Context } from 'hono';
import { InferenceError } from '../../../shared/errors/index.ts';
import { mediaType, parseJsonBody, readBody as readBodyCapped } from '../../../shared/http/index.ts';
import { MAX_ITEMS_PER_REQUEST } from '../../../shared/protocol/limits.ts';
import { HEADER_LENGTH_HEADER, JSON_CONTENT_TYPE } from '../../../shared/protocol/oip.ts';
import { assertModelAllowed } from '../middleware/auth/index.ts';
import type { AppEnv } from '../types.ts';

/** The model (and version) the path names; 403 unless the caller's key covers the model. */
export function modelParams(c: Context<AppEnv>): { model: string; version: string | undefined } {
  const model = c.req.param('model') as string;
  assertModelAllowed(c.get('principal'), model);
  return { model, version: c.req.param('version') };
}

/**
 * The request body, at most MAX_BODY_BYTES of it (413 past it): shared/http's one implementation. Read once per
 * request (the rate limiter weighs it before the route parses it).
 */
export async function readBody(c: Context<AppEnv>, maxBytes: number): Promise<Uint8Array> {
  const cached = c.get('body');
  if (cached !== undefined) return cached;
  const body = await readBodyCapped(c.req.raw, { maxBytes, setting: 'MAX_BODY_BYTES' });
  c.set('body', body);
  return body;
}

/**
 * The body parsed as UTF-8 JSON (shared/http parseJsonBody: 400 invalid_json otherwise), parsed once per request:
 * the rate limiter's weight and the route share it.
 */
export async function readJson(c: Context<AppEnv>): Promise<unknown> {
  const cached = c.get('json');
  if (cached !== undefined) return cached.value;
  const value = parseJsonBody(await readBody(c, c.get('config').maxBodyBytes));
  c.set('json', { value });
  return value;
}

const lenient = new TextDecoder();

/**
 * How much of the rate limit a request uses: its items (texts, or rows along the batch dimension of an OIP
 * request, JSON or the binary extension's JSON header), 1 for anything else or anything unreadable (the route
 * refuses it then), at most MAX_ITEMS_PER_REQUEST.
 */
export async function requestWeight(c: Context<AppEnv>): Promise<number> {
  // A job submission is one request (its rows count against the daily job quota); its body is streamed, never read here.
  if (c.req.method !== 'POST' || c.req.path.endsWith('/jobs')) return 1;
  const headerLength = Number(c.req.header(HEADER_LENGTH_HEADER));
  let parsed: unknown;
  try {
    // The binary extension's JSON header alone (the route proxies such bodies as they are); else the whole body.
    parsed =
      Number.isInteger(headerLength) && headerLength > 0
        ? JSON.parse(
            lenient.decode((await readBody(c, c.get('config').maxBodyBytes)).subarray(0, headerLength)),
          )
        : await readJson(c);
  } catch (err) {
    if (err instanceof InferenceError && err.code === 'payload_too_large') throw err;
    return 1; // unreadable: the route refuses it with its own error
  }
  const p = parsed as { texts?: unknown; inputs?: Array<{ shape?: unknown }> } | null;
  let items = 1;
  if (Array.isArray(p?.texts)) items = p.texts.length;
  else if (Array.isArray(p?.inputs)) {
    const shape = p.inputs[0]?.shape;
    const rows = Array.isArray(shape) ? shape[0] : undefined;
    if (typeof rows === 'number' && Number.isInteger(rows)) items = rows;
  }
  return Math.min(MAX_ITEMS_PER_REQUEST, Math.max(1, items));
}

/** Items a request charges to its tenant's quotas: an inference request's items (classify, infer), else 0. */
export async function quotaItems(c: Context<AppEnv>): Promise<number> {
  const path = c.req.path;
  if (c.req.method !== 'POST' || !(path.endsWith('/classify') || path.endsWith('/infer'))) return 0;
  return requestWeight(c);
}

/** 415 unless the request says it is JSON. */
export function requireJson(c: Context<AppEnv>): void {
  if (mediaType(c.req.header('content-type')) !== JSON_CONTENT_TYPE) {
    throw new InferenceError(
      'unsupported_media_type',
      `content-type must be ${JSON_CONTENT_TYPE}, got ${JSON.stringify(c.req.header('content-type') ?? '(none)')}`,
    );
  }
}

/**
 * The request's absolute deadline: now + the client's `x-deadline-ms` budget (1..max), or + max when absent.
 * A malformed header is a 400.
 */
export function requestDeadline(c: Context<AppEnv>, maxMs: number, now: number): number {
  const raw = c.req.header('x-deadline-ms');
  if (raw === undefined) return now + maxMs;
  if (!/^\d{1,9}$/.test(raw.trim()) || Number(raw) < 1) {
    throw new InferenceError(
      'invalid_header',
      `x-deadline-ms must be a positive integer of milliseconds, got ${JSON.stringify(raw.slice(0, 40))}`,
    );
  }
  return now + Math.min(Number(raw), maxMs);
}
