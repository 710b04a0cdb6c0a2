/**
 * Timestamped HMAC-SHA256 request signatures between the edge and the origin.
 *
 * The signed string is
 *
 *   v1\n<METHOD>\n<path>\n<timestamp ms>\n<nonce>\n<sha256 hex of the body>[\npriority:<n>]
 *
 * The last line is there when the request carries `x-priority`: the priority the edge decided from the caller's
 * tier, so that nobody on the way (nor the client, whose body is forwarded as is) can raise it.
 * where `path` is the request target as sent (pathname plus query, e.g. `/v2/models/spam/infer`). Three headers
 * carry it: `x-signature-timestamp` (unix ms), `x-signature-nonce` (16-128 chars of [A-Za-z0-9_-]) and
 * `x-signature` (lowercase hex HMAC). The verifier refuses a missing or malformed header, a timestamp outside the
 * replay window, a wrong signature, and a nonce it has already accepted within the window.
 *
 * Runs in workerd and Node (WebCrypto, TextEncoder; no Node built-ins): the edge imports the signer.
 */
import { bytesToHex, type Digestible, EMPTY_SHA256, hexToBytes, sha256Hex, toBytes } from '../hash/index.ts';

export const SIGNATURE_HEADER = 'x-signature';
export const TIMESTAMP_HEADER = 'x-signature-timestamp';
export const NONCE_HEADER = 'x-signature-nonce';
export const PRIORITY_HEADER = 'x-priority';

/** Default replay window: a signature older or newer than this (ms) is refused. */
export const DEFAULT_REPLAY_WINDOW_MS = 300_000;

export type SignatureHeaders = {
  'x-signature-timestamp': string;
  'x-signature-nonce': string;
  'x-signature': string;
  /** The signed priority, when one was given. */
  'x-priority'?: string;
};

const encoder = new TextEncoder();
const NONCE_RE = /^[A-Za-z0-9_-]{16,128}$/;
const SIGNATURE_RE = /^[0-9a-f]{64}$/;
const TIMESTAMP_RE = /^[0-9]{1,16}$/;

const keyCache = new Map<string, Promise<CryptoKey>>();

/** The HMAC-SHA256 key of a secret, imported once and cached (the edge also derives per-key webhook secrets with it). */
export function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keyCache.get(secret);
  if (key === undefined) {
    if (keyCache.size >= 16) keyCache.clear();
    key = crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
      'sign',
      'verify',
    ]);
    keyCache.set(secret, key);
  }
  return key;
}

function checkSecret(secret: unknown): asserts secret is string {
  if (typeof secret !== 'string' || secret.length < 16) {
    throw new TypeError('secret must be a string of at least 16 characters');
  }
}

/** The exact string that is signed. */
export function signedString(
  method: string,
  path: string,
  timestamp: string,
  nonce: string,
  bodySha256: string,
  priority?: string,
): string {
  const base = `v1\n${method.toUpperCase()}\n${path}\n${timestamp}\n${nonce}\n${bodySha256}`;
  return priority === undefined ? base : `${base}\npriority:${priority}`;
}

async function bodyDigest(body: Digestible | null | undefined): Promise<string> {
  if (body === null || body === undefined) return EMPTY_SHA256;
  return toBytes(body).length === 0 ? EMPTY_SHA256 : sha256Hex(body);
}

function randomNonce(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return bytesToHex(bytes);
}

export interface SignRequestOptions {
  /** Shared secret (at least 16 characters). */
  secret: string;
  method: string;
  /** Request target as sent: pathname plus query. */
  path: string;
  /** The exact body bytes sent (strings are UTF-8 encoded). @default no body */
  body?: Digestible | null;
  /** Unix time in ms. @default Date.now() */
  now?: number;
  /** @default 16 random bytes as hex */
  nonce?: string;
  /** Scheduling priority at the origin (1 = highest), sent as a signed `x-priority`. @default none */
  priority?: number;
}

/** Signs a request; returns the three headers to send with it. */
export async function signRequest(options: SignRequestOptions): Promise<SignatureHeaders> {
  checkSecret(options.secret);
  const nonce = options.nonce ?? randomNonce();
  if (!NONCE_RE.test(nonce))
    throw new TypeError(`nonce must match ${NONCE_RE}, got ${JSON.stringify(nonce)}`);
  const timestamp = String(Math.floor(options.now ?? Date.now()));
  const priority = options.priority;
  if (priority !== undefined && (!Number.isInteger(priority) || priority < 1 || priority > 16)) {
    throw new TypeError(`priority must be an integer from 1 to 16, got ${priority}`);
  }
  const digest = await bodyDigest(options.body);
  const key = await hmacKey(options.secret);
  const p = priority === undefined ? undefined : String(priority);
  const mac = await crypto.subtle.sign(
    'HMAC',
    key,
    encoder.encode(signedString(options.method, options.path, timestamp, nonce, digest, p)),
  );
  const headers: SignatureHeaders = {
    'x-signature-timestamp': timestamp,
    'x-signature-nonce': nonce,
    'x-signature': bytesToHex(new Uint8Array(mac)),
  };
  if (p !== undefined) headers['x-priority'] = p;
  return headers;
}

/** Remembers accepted nonces until they leave the replay window. */
export interface NonceStore {
  /** Records the nonce; returns false when it was already recorded and has not expired (a replay). */
  add(nonce: string, expiresAt: number, now: number): boolean | Promise<boolean>;
}

export interface MemoryNonceStoreOptions {
  /** Most nonces held; beyond it the oldest are forgotten (so replays older than that slip through). @default 100000 */
  maxEntries?: number;
}

/** An in-process NonceStore. Across a pool of origins, a replay sent to another origin is not caught by it. */
export class MemoryNonceStore implements NonceStore {
  readonly #seen = new Map<string, number>();
  readonly #maxEntries: number;

  constructor(options: MemoryNonceStoreOptions = {}) {
    const max = options.maxEntries ?? 100_000;
    if (!Number.isInteger(max) || max < 1) {
      throw new TypeError(`maxEntries must be an integer >= 1, got ${String(options.maxEntries)}`);
    }
    this.#maxEntries = max;
  }

  get size(): number {
    return this.#seen.size;
  }

  add(nonce: string, expiresAt: number, now: number): boolean {
    const seen = this.#seen.get(nonce);
    if (seen !== undefined && seen > now) return false;
    this.#seen.delete(nonce);
    this.#seen.set(nonce, expiresAt);
    this.#prune(now);
    return true;
  }

  #prune(now: number): void {
    // Insertion order is close to expiry order (one window for all), so expired entries sit at the front.
    for (const [nonce, expiresAt] of this.#seen) {
      if (expiresAt > now && this.#seen.size <= this.#maxEntries) break;
      this.#seen.delete(nonce);
    }
  }
}

/** A header source: a Headers object or a plain record (lowercase names). */
export type HeaderSource = { get(name: string): string | null } | Record<string, string | undefined>;

function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  }
  return (headers as Record<string, string | undefined>)[name];
}

export interface VerifyRequestOptions {
  /** Accepted secrets: one, or several during a rotation. */
  secret: string | readonly string[];
  method: string;
  /** Request target as received: pathname plus query. */
  path: string;
  /** The exact body bytes received. @default no body */
  body?: Digestible | null;
  headers: HeaderSource;
  /** Unix time in ms. @default Date.now() */
  now?: number;
  /** Allowed clock difference either way, ms. @default 300000 */
  windowMs?: number;
  /** Where accepted nonces are remembered; without one, replays inside the window are not detected. */
  nonceStore?: NonceStore;
}

export type VerifyFailure = 'missing' | 'malformed' | 'stale' | 'bad_signature' | 'replayed';

export type VerifyResult = { ok: true } | { ok: false; reason: VerifyFailure; message: string };

function fail(reason: VerifyFailure, message: string): VerifyResult {
  return { ok: false, reason, message };
}

/** The signature headers of a request, present and well-formed. */
export interface SignatureParts {
  timestamp: string;
  nonce: string;
  signature: string;
}

/**
 * The checks that need no body: the three headers present, well-formed, and the timestamp inside the replay
 * window. A server runs this before reading a body, so an unsigned or stale request costs it no body bytes.
 */
export function checkSignatureHeaders(
  headers: HeaderSource,
  now: number,
  windowMs: number = DEFAULT_REPLAY_WINDOW_MS,
): { ok: true; parts: SignatureParts } | { ok: false; reason: VerifyFailure; message: string } {
  if (!Number.isFinite(windowMs) || windowMs <= 0) {
    throw new TypeError(`windowMs must be a positive number, got ${String(windowMs)}`);
  }
  const timestamp = header(headers, TIMESTAMP_HEADER);
  const nonce = header(headers, NONCE_HEADER);
  const signature = header(headers, SIGNATURE_HEADER);
  if (timestamp === undefined || nonce === undefined || signature === undefined) {
    const missing = [
      timestamp === undefined ? TIMESTAMP_HEADER : '',
      nonce === undefined ? NONCE_HEADER : '',
      signature === undefined ? SIGNATURE_HEADER : '',
    ].filter(Boolean);
    return { ok: false, reason: 'missing', message: `missing signature header(s): ${missing.join(', ')}` };
  }
  if (!TIMESTAMP_RE.test(timestamp))
    return { ok: false, reason: 'malformed', message: `${TIMESTAMP_HEADER} must be unix milliseconds` };
  if (!NONCE_RE.test(nonce))
    return {
      ok: false,
      reason: 'malformed',
      message: `${NONCE_HEADER} must be 16-128 characters of [A-Za-z0-9_-]`,
    };
  if (!SIGNATURE_RE.test(signature))
    return {
      ok: false,
      reason: 'malformed',
      message: `${SIGNATURE_HEADER} must be 64 lowercase hex characters`,
    };
  if (Math.abs(now - Number(timestamp)) > windowMs) {
    return {
      ok: false,
      reason: 'stale',
      message: `signature timestamp is outside the ${windowMs} ms replay window`,
    };
  }
  return { ok: true, parts: { timestamp, nonce, signature } };
}

/**
 * Verifies a signed request. Order: headers present, well-formed, inside the window (checkSignatureHeaders),
 * signature (constant time, WebCrypto verify), then the nonce is recorded (only after the signature holds, so
 * forged requests cannot fill the store).
 */
export async function verifyRequest(options: VerifyRequestOptions): Promise<VerifyResult> {
  const secrets = typeof options.secret === 'string' ? [options.secret] : options.secret;
  if (secrets.length === 0) throw new TypeError('secret must name at least one secret');
  for (const s of secrets) checkSecret(s);
  const windowMs = options.windowMs ?? DEFAULT_REPLAY_WINDOW_MS;
  const now = options.now ?? Date.now();
  const checked = checkSignatureHeaders(options.headers, now, windowMs);
  if (!checked.ok) return fail(checked.reason, checked.message);
  const { timestamp, nonce, signature } = checked.parts;

  const data = encoder.encode(
    signedString(
      options.method,
      options.path,
      timestamp,
      nonce,
      await bodyDigest(options.body),
      header(options.headers, PRIORITY_HEADER),
    ),
  );
  const mac = hexToBytes(signature) as Uint8Array<ArrayBuffer>;
  let valid = false;
  for (const secret of secrets) {
    if (await crypto.subtle.verify('HMAC', await hmacKey(secret), mac, data)) {
      valid = true;
      break;
    }
  }
  if (!valid) return fail('bad_signature', 'signature does not match the request');

  if (options.nonceStore !== undefined) {
    const fresh = await options.nonceStore.add(nonce, Number(timestamp) + windowMs, now);
    if (!fresh) return fail('replayed', 'signature nonce was already used');
  }
  return { ok: true };
}
