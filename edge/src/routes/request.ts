/** Request reading and header parsing shared by the edge's routes: every bad input is a 4xx in the shared shape. */
import type { Context } from 'hono';
import { InferenceError } from '../../../shared/errors/index.ts';
import { mediaType, readBody as readBodyCapped } from '../../../shared/http/index.ts';
import { JSON_CONTENT_TYPE } from '../../../shared/protocol/oip.ts';
import { assertModelAllowed } from '../middleware/auth/index.ts';
import type { AppEnv } from '../types.ts';

/** The model (and version) the path names; 403 unless the caller's key covers the model. */
export function modelParams(c: Context<AppEnv>): { model: string; version: string | undefined } {
  const model = c.req.param('model') as string;
  assertModelAllowed(c.get('principal'), model);
  return { model, version: c.req.param('version') };
}

/** The request body, at most MAX_BODY_BYTES of it (413 past it): shared/http's one implementation. */
export function readBody(c: Context<AppEnv>, maxBytes: number): Promise<Uint8Array> {
  return readBodyCapped(c.req.raw, { maxBytes, setting: 'MAX_BODY_BYTES' });
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
