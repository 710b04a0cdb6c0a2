/** Request reading and header parsing shared by the edge's routes: every bad input is a 4xx in the shared shape. */
import type { Context } from 'hono';
import { InferenceError } from '../../../shared/errors/index.ts';
import type { AppEnv } from '../types.ts';

/** Reads the body as bytes, refusing more than `maxBytes` (413) whether or not Content-Length is honest. */
export async function readBody(c: Context<AppEnv>, maxBytes: number): Promise<Uint8Array> {
  const declared = c.req.header('content-length');
  if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) > maxBytes) {
    throw new InferenceError(
      'payload_too_large',
      `request body of ${declared} bytes exceeds the ${maxBytes} byte limit`,
    );
  }
  const body = c.req.raw.body;
  if (body === null) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new InferenceError('payload_too_large', `request body exceeds the ${maxBytes} byte limit`);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const ch of chunks) {
    out.set(ch, offset);
    offset += ch.byteLength;
  }
  return out;
}

/** 415 unless the request says it is JSON. */
export function requireJson(c: Context<AppEnv>): void {
  const type = (c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new InferenceError(
      'unsupported_media_type',
      `content-type must be application/json, got ${JSON.stringify(c.req.header('content-type') ?? '(none)')}`,
    );
  }
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Parses UTF-8 JSON; 400 invalid_json when it is not. */
export function parseJsonBody(bytes: Uint8Array): unknown {
  if (bytes.length === 0) throw new InferenceError('invalid_json', 'request body is empty; expected JSON');
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch {
    throw new InferenceError('invalid_json', 'request body is not valid UTF-8 JSON');
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

/** UTF-8 byte length without encoding. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    if (code < 0x80) n += 1;
    else if (code < 0x800) n += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}
