/**
 * The Upstash REST protocol, the parts that do not touch the network: request bodies to Redis argument arrays,
 * Redis replies to the JSON Upstash returns (`{result}` / `{error}`), and `Upstash-Encoding: base64`.
 * Reference: https://upstash.com/docs/redis/features/restapi
 */
import { ErrorReply } from 'redis';
import { type ScriptShaMap, sha1Hex } from './scripts.ts';

/** A request the bridge refuses before it reaches Redis: answered `{error}` with `status`. */
export class BridgeRequestError extends Error {
  readonly status: 400 | 401 | 404 | 405 | 413;

  constructor(status: 400 | 401 | 404 | 405 | 413, message: string) {
    super(message);
    this.name = 'BridgeRequestError';
    this.status = status;
  }
}

/**
 * Commands that would change or hold the state of the one connection the bridge shares between all requests
 * (pub/sub, MONITOR, SELECT, MULTI/EXEC, HELLO, CLIENT, blocking pops) or reach past its database (FLUSHALL,
 * SWAPDB). /multi-exec is the way to run a transaction.
 */
const REFUSED_COMMANDS = new Set([
  'SUBSCRIBE',
  'PSUBSCRIBE',
  'SSUBSCRIBE',
  'UNSUBSCRIBE',
  'PUNSUBSCRIBE',
  'SUNSUBSCRIBE',
  'MONITOR',
  'SELECT',
  'SWAPDB',
  'FLUSHALL',
  'MULTI',
  'EXEC',
  'DISCARD',
  'WATCH',
  'UNWATCH',
  'QUIT',
  'RESET',
  'HELLO',
  'AUTH',
  'CLIENT',
  'SYNC',
  'PSYNC',
  'REPLICAOF',
  'SLAVEOF',
  'SHUTDOWN',
  'DEBUG',
  'BLPOP',
  'BRPOP',
  'BRPOPLPUSH',
  'BLMOVE',
  'BLMPOP',
  'BZPOPMIN',
  'BZPOPMAX',
  'BZMPOP',
  'WAIT',
  'WAITAOF',
]);

/** Checks one command array from a request body and turns its arguments into strings. */
export function parseCommand(value: unknown, where = 'command'): string[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new BridgeRequestError(400, `ERR ${where} must be a non-empty JSON array of strings and numbers`);
  }
  const args = value.map((arg, i) => {
    if (typeof arg === 'string') return arg;
    if (typeof arg === 'number' && Number.isFinite(arg)) return String(arg);
    if (typeof arg === 'boolean') return String(arg);
    throw new BridgeRequestError(
      400,
      `ERR ${where} argument ${i} must be a string or a number, got ${JSON.stringify(arg)}`,
    );
  });
  const name = (args[0] as string).toUpperCase();
  if (REFUSED_COMMANDS.has(name)) {
    throw new BridgeRequestError(400, `ERR command '${args[0]}' is not supported by the Upstash bridge`);
  }
  if ((name === 'XREAD' || name === 'XREADGROUP') && args.some((a) => a.toUpperCase() === 'BLOCK')) {
    throw new BridgeRequestError(400, `ERR blocking ${name} is not supported by the Upstash bridge`);
  }
  return args;
}

/** Checks a /pipeline or /multi-exec body: a non-empty array of commands. */
export function parseCommandList(value: unknown): string[][] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new BridgeRequestError(400, 'ERR body must be a non-empty JSON array of commands');
  }
  return value.map((command, i) => parseCommand(command, `command ${i}`));
}

/**
 * How a command reaches Redis: Lua scripts get their shebang rewritten and their SHA1s mapped (scripts.ts).
 * `clientSha` is set for SCRIPT LOAD: the client expects the SHA1 of the text it sent, as Upstash answers.
 */
export interface PreparedCommand {
  args: string[];
  clientSha?: string;
}

export function prepareCommand(args: string[], scripts: ScriptShaMap): PreparedCommand {
  const name = (args[0] as string).toUpperCase();
  if ((name === 'EVAL' || name === 'EVAL_RO') && args.length >= 2) {
    return { args: [args[0] as string, scripts.prepare(args[1] as string), ...args.slice(2)] };
  }
  if ((name === 'EVALSHA' || name === 'EVALSHA_RO') && args.length >= 2) {
    return { args: [args[0] as string, scripts.resolve(args[1] as string), ...args.slice(2)] };
  }
  if (name === 'SCRIPT' && args.length >= 3) {
    const sub = (args[1] as string).toUpperCase();
    if (sub === 'LOAD' && args.length === 3) {
      const original = args[2] as string;
      return {
        args: [args[0] as string, args[1] as string, scripts.prepare(original)],
        clientSha: sha1Hex(original),
      };
    }
    if (sub === 'EXISTS') {
      return {
        args: [args[0] as string, args[1] as string, ...args.slice(2).map((sha) => scripts.resolve(sha))],
      };
    }
  }
  return { args };
}

/** A reply as the node `redis` client gives it with RESP2 and bulk strings mapped to Buffers. */
export type RedisReply = null | number | string | Buffer | ErrorReply | RedisReply[];

export type UpstashValue = null | number | string | UpstashValue[];

/**
 * Encodes a Redis reply as Upstash's JSON `result`. With base64 every string is base64 of its bytes except the
 * status reply `OK`; without it strings are UTF-8 (invalid bytes become U+FFFD, as Upstash does).
 */
export function encodeReply(reply: RedisReply, base64: boolean): UpstashValue {
  if (reply === null || reply === undefined) return null;
  if (typeof reply === 'number') return reply;
  if (typeof reply === 'bigint') return Number(reply);
  if (Buffer.isBuffer(reply)) return base64 ? reply.toString('base64') : reply.toString('utf8');
  if (typeof reply === 'string') {
    // Status replies (RESP simple strings) arrive as JS strings; bulk strings as Buffers.
    if (!base64 || reply === 'OK') return reply;
    return Buffer.from(reply, 'utf8').toString('base64');
  }
  if (reply instanceof ErrorReply) {
    // An error nested in an array (a Lua table holding {err=...}): Upstash shows its message as a string.
    return base64 ? Buffer.from(reply.message, 'utf8').toString('base64') : reply.message;
  }
  if (Array.isArray(reply)) return reply.map((r) => encodeReply(r, base64));
  return String(reply);
}

/** True for errors Redis itself answered (`-ERR ...`, WRONGTYPE, NOSCRIPT): the command ran and failed. */
export function isRedisErrorReply(err: unknown): err is ErrorReply {
  return err instanceof ErrorReply;
}
