/**
 * A job's inputs, streamed into R2 in chunks as they arrive, never held whole: NDJSON is read line by line (each
 * line a JSON string or `{"text": "..."}`), every line checked, and the rows written as chunk objects of at most
 * `chunkRows` rows / `chunkBytes` bytes (`{prefix}in/{n}.ndjson`, one JSON string per line). A malformed line, a
 * body over the limits or invalid UTF-8 deletes what was written and throws (400 naming the line, 413 naming the
 * limit): nothing half-stored. A small JSON body `{"texts": [...]}` goes through the same writer.
 */
import { InferenceError, InvalidInputError } from '../../../shared/errors/index.ts';
import { utf8Length } from '../../../shared/protocol/text.ts';

export interface JobLimits {
  /** JOB_MAX_ROWS: most rows in one job. */
  maxRows: number;
  /** JOB_MAX_BYTES: most body bytes of one job. */
  maxBytes: number;
  /** Rows per chunk (at most a synchronous request's MAX_ITEMS_PER_REQUEST). */
  chunkRows: number;
  /** Bytes per chunk (the internal request's body). */
  chunkBytes: number;
  /** Longest NDJSON line (one row): MAX_BODY_BYTES. */
  maxLineBytes: number;
}

export interface StoredChunk {
  key: string;
  rows: number;
  /** Index of the chunk's first row in the job. */
  first: number;
}

export interface StoredInput {
  rows: number;
  bytes: number;
  chunks: StoredChunk[];
}

const tooLarge = (what: string) => new InferenceError('payload_too_large', what);

/** The text of one input line's value: a JSON string or {"text": string}. */
export function textOf(value: unknown, where: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const keys = Object.keys(value);
    const text = (value as { text?: unknown }).text;
    if (typeof text === 'string' && keys.length === 1) return text;
    if (typeof text === 'string') {
      throw new InvalidInputError(
        `${where}: unknown field(s) ${keys.filter((k) => k !== 'text').join(', ')}`,
      );
    }
  }
  throw new InvalidInputError(`${where}: expected a JSON string or {"text": "..."}`);
}

/** A tensor job's input, one row per line: per input its datatype and per-row element count. */
export interface RowSignature {
  inputs: Array<{ name: string; datatype: string; shape: number[] }>;
}

const BOOL_OR_NUMBER = (datatype: string) => (datatype === 'BOOL' ? 'boolean' : 'number');

function flatten(value: unknown, out: unknown[], depth = 0): boolean {
  if (!Array.isArray(value)) {
    out.push(value);
    return true;
  }
  if (depth > 8) return false;
  for (const v of value) if (!flatten(v, out, depth + 1)) return false;
  return true;
}

/**
 * One row of a tensor job, as a line's value: `{"<input>": <values of one row, nested or flat>, ...}` for every
 * input of the model and nothing else; numbers finite (booleans for BOOL), as many as one row holds. Returns the
 * row with each input flattened.
 */
export function rowOf(value: unknown, signature: RowSignature, where: string): Record<string, unknown[]> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidInputError(
      `${where}: expected one row: {${signature.inputs.map((i) => `"${i.name}": [...]`).join(', ')}}`,
    );
  }
  const names = signature.inputs.map((i) => i.name);
  const extra = Object.keys(value).filter((k) => !names.includes(k));
  if (extra.length > 0) throw new InvalidInputError(`${where}: unknown input(s) ${extra.join(', ')}`);
  const row: Record<string, unknown[]> = {};
  for (const input of signature.inputs) {
    const raw = (value as Record<string, unknown>)[input.name];
    if (raw === undefined) throw new InvalidInputError(`${where}: input ${input.name} is missing`);
    const flat: unknown[] = [];
    if (!flatten(raw, flat)) throw new InvalidInputError(`${where}: input ${input.name} is nested too deep`);
    const want = input.shape.slice(1).reduce((a, b) => a * b, 1);
    if (flat.length !== want) {
      throw new InvalidInputError(
        `${where}: input ${input.name} holds ${flat.length} values; one row holds ${want}`,
      );
    }
    const type = BOOL_OR_NUMBER(input.datatype);
    const bad = flat.findIndex(
      (v) => typeof v !== type || (type === 'number' && !Number.isFinite(v as number)),
    );
    if (bad >= 0) {
      throw new InvalidInputError(
        `${where}: input ${input.name}[${bad}] is not a finite ${input.datatype} value`,
      );
    }
    row[input.name] = flat;
  }
  return row;
}

/** Writes rows into chunk objects as they fill; `discard()` deletes every object written. */
export class ChunkWriter {
  readonly #bucket: R2Bucket;
  readonly #prefix: string;
  readonly #limits: JobLimits;
  #lines: string[] = [];
  #lineBytes = 0;
  #rows = 0;
  readonly #chunks: StoredChunk[] = [];

  constructor(bucket: R2Bucket, prefix: string, limits: JobLimits) {
    this.#bucket = bucket;
    this.#prefix = prefix;
    this.#limits = limits;
  }

  async add(row: string | Record<string, unknown[]>): Promise<void> {
    if (this.#rows >= this.#limits.maxRows) {
      throw tooLarge(`the job holds more than ${this.#limits.maxRows} rows (JOB_MAX_ROWS); split it`);
    }
    const line = JSON.stringify(row);
    const bytes = utf8Length(line) + 1;
    if (this.#lines.length > 0 && this.#lineBytes + bytes > this.#limits.chunkBytes) await this.#flush();
    this.#lines.push(line);
    this.#lineBytes += bytes;
    this.#rows++;
    if (this.#lines.length >= this.#limits.chunkRows) await this.#flush();
  }

  async #flush(): Promise<void> {
    if (this.#lines.length === 0) return;
    const key = `${this.#prefix}in/${this.#chunks.length}.ndjson`;
    const rows = this.#lines.length;
    const first = this.#rows - rows;
    await this.#bucket.put(key, `${this.#lines.join('\n')}\n`);
    this.#chunks.push({ key, rows, first });
    this.#lines = [];
    this.#lineBytes = 0;
  }

  async finish(bytes: number): Promise<StoredInput> {
    await this.#flush();
    if (this.#rows === 0) throw new InvalidInputError('the job holds no rows');
    return { rows: this.#rows, bytes, chunks: this.#chunks };
  }

  async discard(): Promise<void> {
    const keys = this.#chunks.map((c) => c.key);
    for (let i = 0; i < keys.length; i += 1000) await this.#bucket.delete(keys.slice(i, i + 1000));
  }
}

/** Streams an NDJSON body into chunks; throws (after deleting what was written) on the first problem. */
export async function storeNdjson(
  body: ReadableStream<Uint8Array>,
  writer: ChunkWriter,
  limits: JobLimits,
  signature?: RowSignature,
): Promise<StoredInput> {
  const reader = body.getReader();
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
  let bytes = 0;
  let line = 0;
  let pending = '';
  const take = async (raw: string) => {
    line++;
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new InvalidInputError(`line ${line}: not valid JSON`);
    }
    const where = `line ${line}`;
    await writer.add(signature === undefined ? textOf(value, where) : rowOf(value, signature, where));
  };
  try {
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (err) {
        // A gzip body that does not decompress, or a client that went away mid-body.
        throw new InvalidInputError(
          `line ${line + 1}: the body could not be read (${err instanceof Error ? err.message : String(err)})`,
        );
      }
      const { done, value } = next;
      if (done) break;
      bytes += value.byteLength;
      if (bytes > limits.maxBytes) {
        throw tooLarge(`the job body is over ${limits.maxBytes} bytes (JOB_MAX_BYTES); split it`);
      }
      let chunk: string;
      try {
        chunk = decoder.decode(value, { stream: true });
      } catch {
        throw new InvalidInputError(`line ${line + 1}: the body is not valid UTF-8`);
      }
      pending += chunk;
      let nl = pending.indexOf('\n');
      while (nl >= 0) {
        await take(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
        nl = pending.indexOf('\n');
      }
      if (pending.length > limits.maxLineBytes) {
        throw tooLarge(
          `line ${line + 1} is longer than ${limits.maxLineBytes} bytes (MAX_BODY_BYTES, the most one row may hold)`,
        );
      }
    }
    try {
      pending += decoder.decode();
    } catch {
      throw new InvalidInputError(`line ${line + 1}: the body is not valid UTF-8`);
    }
    if (pending !== '') await take(pending);
    return await writer.finish(bytes);
  } catch (err) {
    await drain(reader, DRAIN_MAX_BYTES);
    await writer.discard();
    throw err;
  }
}

/**
 * Bytes of a refused body still read (and dropped) before answering: answering while the client is still uploading
 * made local runtimes (wrangler dev) drop the connection, a 500 with no JSON body; past this the rest is cancelled.
 */
export const DRAIN_MAX_BYTES = 8 * 1024 * 1024;

/**
 * Drains a body that a pipe was reading (its lock released once the pipe has failed): reads and drops at most
 * `maxBytes`, then cancels the rest; never throws.
 */
export async function drainBody(body: ReadableStream<Uint8Array>, maxBytes: number): Promise<void> {
  for (let i = 0; i < 100 && body.locked; i++) await new Promise((r) => setTimeout(r, 0));
  if (body.locked) return;
  await drain(body.getReader(), maxBytes);
}

/** Reads and drops the rest of a body, at most `maxBytes`, then cancels what is left; never throws. */
async function drain(reader: ReadableStreamDefaultReader<Uint8Array>, maxBytes: number): Promise<void> {
  let read = 0;
  try {
    while (read <= maxBytes) {
      const { done, value } = await reader.read();
      if (done) return;
      read += value.byteLength;
    }
    await reader.cancel();
  } catch {
    // the body failed or the client left: nothing more to read
  }
}

/** A JSON body `{"texts": [...]}` (already parsed, at most MAX_BODY_BYTES) into chunks. */
export async function storeTexts(value: unknown, writer: ChunkWriter, bytes: number): Promise<StoredInput> {
  const texts = (value as { texts?: unknown } | null)?.texts;
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !Array.isArray(texts)) {
    throw new InvalidInputError('expected {"texts": [...]} (or an NDJSON body: one text per line)');
  }
  const extra = Object.keys(value).filter((k) => k !== 'texts');
  if (extra.length > 0) throw new InvalidInputError(`unknown field(s) ${extra.join(', ')}`);
  try {
    for (const [i, t] of texts.entries()) await writer.add(textOf(t, `texts[${i}]`));
    return await writer.finish(bytes);
  } catch (err) {
    await writer.discard();
    throw err;
  }
}
