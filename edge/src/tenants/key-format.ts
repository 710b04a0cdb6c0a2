/**
 * The API key format: `sk_<env>_<30 random base62><6 base62 CRC-32>`, e.g. `sk_live_4f9Qk...Zr01aB`.
 *
 *  - `sk_` a prefix and `live|test|dev` an environment marker, so people and secret scanners recognise a key and
 *    where it belongs (GitHub's `ghp_`, Stripe's `sk_live_` do the same);
 *  - 30 characters of base62 from a CSPRNG (rejection-sampled, no modulo bias): ~178 bits;
 *  - a CRC-32 of everything before it, 6 base62 characters: a mistyped, truncated or made-up key is refused without
 *    any I/O (the checksum is not a secret; it only stops typos and junk from reaching KV or D1).
 *
 * Runs in workerd and Node (WebCrypto only).
 */

export const KEY_ENVS = ['live', 'test', 'dev'] as const;
export type KeyEnv = (typeof KEY_ENVS)[number];

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const RANDOM_CHARS = 30;
const CHECK_CHARS = 6;
/** The whole key; `parseKey` checks the checksum on top. */
const KEY = /^sk_(live|test|dev)_([0-9A-Za-z]{30})([0-9A-Za-z]{6})$/;
/** How many characters of a key are kept for display (`start`): the prefix, the marker and 4 random ones. */
const START_RANDOM_CHARS = 4;

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, as zlib) of ASCII text. */
export function crc32(text: string): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) {
    crc = (crcTable[(crc ^ text.charCodeAt(i)) & 0xff] as number) ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function checksum(body: string): string {
  let n = crc32(body);
  let out = '';
  for (let i = 0; i < CHECK_CHARS; i++) {
    out = ALPHABET[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

/** `count` base62 characters from the CSPRNG (bytes >= 248 are dropped: 248 = 4 x 62, so no bias). */
function randomBase62(count: number): string {
  let out = '';
  while (out.length < count) {
    for (const b of crypto.getRandomValues(new Uint8Array(count * 2))) {
      if (b < 248 && out.length < count) out += ALPHABET[b % 62];
    }
  }
  return out;
}

/** A new secret key for `env`. */
export function generateKey(env: KeyEnv = 'live'): string {
  if (!KEY_ENVS.includes(env))
    throw new TypeError(`key env must be one of ${KEY_ENVS.join(', ')}, got ${env}`);
  const body = `sk_${env}_${randomBase62(RANDOM_CHARS)}`;
  return `${body}${checksum(body)}`;
}

/** The key's environment when `token` is a well-formed key with a valid checksum, else undefined. No I/O. */
export function parseKey(token: string): { env: KeyEnv } | undefined {
  const m = KEY.exec(token);
  if (m === null) return undefined;
  const body = token.slice(0, token.length - CHECK_CHARS);
  if (checksum(body) !== m[3]) return undefined;
  return { env: m[1] as KeyEnv };
}

/** What is shown of a key after creation: `sk_live_4f9Q` (never enough to use it). */
export function keyStart(token: string): string {
  const m = KEY.exec(token);
  if (m === null) return '';
  return `sk_${m[1]}_${(m[2] as string).slice(0, START_RANDOM_CHARS)}`;
}

export { RANDOM_CHARS as KEY_RANDOM_CHARS };
