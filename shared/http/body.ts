/**
 * Reading a request body with a size cap, and decoding it as JSON: the same rules at the edge (workerd) and the
 * origin (Node). A body larger than the cap is refused (413) before it is read when `content-length` says so, and
 * while it is read when it does not; a malformed `content-length` is a 400.
 */
import { InferenceError } from '../errors/index.ts';

export interface ReadBodyOptions {
  /** Largest body accepted, bytes. */
  maxBytes: number;
  /** The setting that sets maxBytes, named in the 413 message (e.g. 'ORIGIN_MAX_BODY_BYTES'). @default none */
  setting?: string;
}

const DIGITS = /^[0-9]{1,15}$/;

function tooLarge(options: ReadBodyOptions): InferenceError {
  const hint = options.setting === undefined ? '' : ` (${options.setting})`;
  return new InferenceError(
    'payload_too_large',
    `request body exceeds the limit of ${options.maxBytes} bytes${hint}`,
  );
}

function unreadable(err: unknown): InferenceError {
  return new InferenceError('bad_request', 'the request body could not be read', { cause: err });
}

/** Checks `content-length` (when present) against the cap; 400 when malformed, 413 when too large. */
export function checkContentLength(declared: string | null | undefined, options: ReadBodyOptions): void {
  if (declared === null || declared === undefined) return;
  if (!DIGITS.test(declared)) throw new InferenceError('invalid_header', 'content-length is not a number');
  if (Number(declared) > options.maxBytes) throw tooLarge(options);
}

/** The whole body of a request as bytes, at most `maxBytes` of them (see the module comment). */
export async function readBody(request: Request, options: ReadBodyOptions): Promise<Uint8Array> {
  const declared = request.headers.get('content-length');
  checkContentLength(declared, options);
  if (declared !== null) {
    // The runtime frames the body by content-length, so it cannot run past the (checked) declared size.
    try {
      return new Uint8Array(await request.arrayBuffer());
    } catch (err) {
      throw unreadable(err);
    }
  }
  const stream = request.body;
  if (stream === null) return new Uint8Array(0);
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    let part: ReadableStreamReadResult<Uint8Array>;
    try {
      part = await reader.read();
    } catch (err) {
      throw unreadable(err);
    }
    if (part.done) break;
    total += part.value.byteLength;
    if (total > options.maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge(options);
    }
    chunks.push(part.value);
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

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Parses a UTF-8 JSON body; 400 `invalid_json` when it is empty, not UTF-8 or not JSON (input not echoed). */
export function parseJsonBody(bytes: Uint8Array): unknown {
  if (bytes.byteLength === 0)
    throw new InferenceError('invalid_json', 'request body is empty; expected JSON');
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch {
    throw new InferenceError('invalid_json', 'request body is not valid UTF-8 JSON');
  }
}
