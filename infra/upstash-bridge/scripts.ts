/**
 * Lua script compatibility between Upstash and a stock redis-server.
 *
 * @upstash/ratelimit's scripts begin with `#!lua flags=allow-key-locking`, a flag Upstash accepts and Redis 7
 * rejects ("Unexpected flag in script shebang"). The bridge rewrites the shebang, keeping the flags Redis knows,
 * and remembers which SHA1 the client computed (over the original text) for which SHA1 Redis caches (over the
 * rewritten text), so EVALSHA with the client's hash keeps working.
 */
import { createHash } from 'node:crypto';

/** Script flags redis-server 7 understands (https://redis.io/docs/latest/develop/interact/programmability/eval-intro/). */
const REDIS_SCRIPT_FLAGS = new Set([
  'no-writes',
  'allow-oom',
  'allow-stale',
  'no-cluster',
  'allow-cross-slot-keys',
]);

export function sha1Hex(text: string): string {
  return createHash('sha1').update(text, 'utf8').digest('hex');
}

/**
 * Returns the script with flags Redis does not know removed from its `#!lua` shebang. A shebang left with no
 * flags becomes an empty line (so line numbers in Redis errors still match the client's script). A script without
 * a shebang, or whose flags are all known, is returned unchanged.
 */
export function rewriteShebang(script: string): string {
  if (!script.startsWith('#!')) return script;
  const end = script.indexOf('\n');
  const firstLine = end === -1 ? script : script.slice(0, end);
  const rest = end === -1 ? '' : script.slice(end);
  const match = /^#!lua(?:\s+flags=(\S*))?\s*$/.exec(firstLine.replace(/\r$/, ''));
  if (match === null) return script; // not a Lua shebang Redis would parse: let Redis report it
  const flags = (match[1] ?? '').split(',').filter((f) => f.length > 0);
  const kept = flags.filter((f) => REDIS_SCRIPT_FLAGS.has(f));
  if (kept.length === flags.length) return script;
  return kept.length === 0 ? rest : `#!lua flags=${kept.join(',')}${rest}`;
}

export interface ScriptShaMapOptions {
  /** Most client-to-Redis SHA1 pairs kept; the oldest is forgotten first (a forgotten one costs a NOSCRIPT round trip). @default 10000 */
  maxEntries?: number;
}

/** The client's SHA1 (of the original script) -> the SHA1 Redis knows (of the rewritten one). */
export class ScriptShaMap {
  readonly #map = new Map<string, string>();
  readonly #maxEntries: number;

  constructor(options: ScriptShaMapOptions = {}) {
    const maxEntries = options.maxEntries ?? 10_000;
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new TypeError(`maxEntries must be an integer >= 1, got ${String(options.maxEntries)}`);
    }
    this.#maxEntries = maxEntries;
  }

  /** Rewrites `script` and records the SHA pair when the text changed. Returns the text to send to Redis. */
  prepare(script: string): string {
    const rewritten = rewriteShebang(script);
    if (rewritten !== script) {
      const clientSha = sha1Hex(script);
      this.#map.delete(clientSha);
      this.#map.set(clientSha, sha1Hex(rewritten));
      if (this.#map.size > this.#maxEntries) {
        const oldest = this.#map.keys().next().value;
        if (oldest !== undefined) this.#map.delete(oldest);
      }
    }
    return rewritten;
  }

  /** The SHA1 to send to Redis for the client's `sha` (unchanged when unknown). */
  resolve(sha: string): string {
    return this.#map.get(sha.toLowerCase()) ?? sha;
  }

  get size(): number {
    return this.#map.size;
  }
}
