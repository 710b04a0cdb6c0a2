/**
 * Canonical JSON and SHA-256 on WebCrypto, for cache keys and request body digests.
 *
 * Canonical JSON: object keys sorted by UTF-16 code units, no whitespace, numbers and strings as ECMAScript's
 * JSON.stringify writes them (the RFC 8785 / JCS rules for the values this project hashes). Non-finite numbers,
 * BigInts, functions and symbols are refused (TypeError) rather than silently written as null.
 *
 * Runs in workerd and Node (crypto.subtle, TextEncoder; no Node built-ins).
 */

const encoder = new TextEncoder();
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Bytes as lowercase hex. */
export function bytesToHex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i] as number];
  return out;
}

/** Hex (either case, even length) to bytes; TypeError on anything else. */
export function hexToBytes(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new TypeError(`expected an even-length hex string, got ${JSON.stringify(hex.slice(0, 80))}`);
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Data a digest can be taken of: text is UTF-8 encoded first. */
export type Digestible = string | Uint8Array | ArrayBuffer;

/** The bytes of a Digestible (UTF-8 for strings); views are not copied. */
export function toBytes(data: Digestible): Uint8Array {
  if (typeof data === 'string') return encoder.encode(data);
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw new TypeError(`expected a string, Uint8Array or ArrayBuffer, got ${typeof data}`);
}

/** SHA-256 of the data as lowercase hex. */
export async function sha256Hex(data: Digestible): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', toBytes(data) as Uint8Array<ArrayBuffer>);
  return bytesToHex(new Uint8Array(digest));
}

/** SHA-256 of the empty string, the body digest of a request without a body. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** Canonical JSON text of a JSON-compatible value (see the module comment). */
export function canonicalJson(value: unknown): string {
  return write(value, '$');
}

function write(value: unknown, path: string): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value))
        throw new TypeError(`canonicalJson: ${path} is ${value}, not a finite number`);
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) {
        const parts: string[] = [];
        for (let i = 0; i < value.length; i++) {
          const item = value[i];
          parts.push(item === undefined ? 'null' : write(item, `${path}[${i}]`));
        }
        return `[${parts.join(',')}]`;
      }
      if (ArrayBuffer.isView(value)) {
        throw new TypeError(
          `canonicalJson: ${path} is a typed array; convert it to an array of numbers first`,
        );
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${write(obj[k], `${path}.${k}`)}`).join(',')}}`;
    }
    default:
      throw new TypeError(`canonicalJson: ${path} is a ${typeof value}, which JSON cannot represent`);
  }
}

/** SHA-256 hex of the canonical JSON of a value: equal for equal values whatever their key order. */
export function hashCanonical(value: unknown): Promise<string> {
  return sha256Hex(canonicalJson(value));
}

/**
 * The response cache key: sha256 over the model name, the release version and the canonical input, so a new
 * release never serves an old release's answers; and over `scope` when given (e.g. the tenant), so entries of one
 * scope are never found from another.
 */
export function cacheKey(model: string, version: string, input: unknown, scope?: string): Promise<string> {
  return hashCanonical(scope === undefined ? { input, model, version } : { input, model, scope, version });
}
