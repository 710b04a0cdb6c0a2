/**
 * A local stand-in for Upstash Redis: an HTTP server speaking the Upstash REST protocol in front of a real
 * redis-server, enough for @upstash/redis and @upstash/ratelimit (single commands, /pipeline, /multi-exec,
 * `Upstash-Encoding: base64`, Bearer auth, EVAL/EVALSHA/SCRIPT LOAD with the shebang rewrite of scripts.ts).
 *
 * Replies: 200 `{result}` (or an array of `{result}|{error}` for /pipeline and /multi-exec); 400 `{error}` for a
 * bad request or a command Redis rejected; 401 for a missing or wrong token; 413 for a body over the limit;
 * 503 `{error}` while Redis cannot be reached. The process never crashes on a request.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient, RESP_TYPES } from 'redis';
import {
  BridgeRequestError,
  encodeReply,
  isRedisErrorReply,
  type PreparedCommand,
  parseCommand,
  parseCommandList,
  prepareCommand,
  type RedisReply,
  type UpstashValue,
} from './protocol.ts';
import { ScriptShaMap } from './scripts.ts';

export interface UpstashBridgeOptions {
  /** The redis-server to serve, `redis://host:port[/db]` (a path selects the database). Required. */
  redisUrl: string;
  /** The Bearer token clients must present (UPSTASH_REDIS_REST_TOKEN on their side). Required, non-empty. */
  token: string;
  /** TCP port to listen on; 0 picks a free one. @default 0 */
  port?: number;
  /** Interface to listen on. @default '127.0.0.1' */
  host?: string;
  /** Largest request body accepted, in bytes; larger gets 413. @default 10485760 (10 MiB) */
  maxBodyBytes?: number;
  /** How long `startUpstashBridge` waits for the first connection to Redis before rejecting. @default 5000 */
  connectTimeoutMs?: number;
  /** Longest pause between reconnection attempts after Redis went away, in ms. @default 1000 */
  maxReconnectDelayMs?: number;
  /** Receives Redis connection errors (they are otherwise swallowed: requests get 503 meanwhile). @default no-op */
  onRedisError?: (err: Error) => void;
}

/** A running bridge. This shape is a contract other tiers' tests and `npm start` rely on: keep it stable. */
export interface UpstashBridge {
  /** Base URL for UPSTASH_REDIS_REST_URL, e.g. `http://127.0.0.1:40123`. */
  url: string;
  /** The token for UPSTASH_REDIS_REST_TOKEN. */
  token: string;
  /** Stops listening, drops open connections and disconnects from Redis. Idempotent. */
  close(): Promise<void>;
}

/** The narrow part of the node `redis` client the bridge uses. */
interface CommandSender {
  sendCommand(args: string[], options?: { chainId?: symbol }): Promise<unknown>;
}

interface Reply {
  status: number;
  body: unknown;
}

function positiveInteger(name: string, value: unknown, fallback: number, min: number, max: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new TypeError(`${name} must be an integer in [${min}, ${max}], got ${String(value)}`);
  }
  return v;
}

function validate(options: UpstashBridgeOptions) {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`options must be an object, got ${String(options)}`);
  }
  const { redisUrl, token } = options;
  if (typeof redisUrl !== 'string' || !/^rediss?:\/\//.test(redisUrl)) {
    throw new TypeError(`redisUrl must be a redis:// or rediss:// URL, got ${String(redisUrl)}`);
  }
  if (typeof token !== 'string' || token.length === 0 || /\s/.test(token)) {
    throw new TypeError('token must be a non-empty string without whitespace');
  }
  const host = options.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host.length === 0) {
    throw new TypeError(`host must be a non-empty string, got ${String(options.host)}`);
  }
  if (options.onRedisError !== undefined && typeof options.onRedisError !== 'function') {
    throw new TypeError('onRedisError must be a function');
  }
  return {
    redisUrl,
    token,
    host,
    port: positiveInteger('port', options.port, 0, 0, 65535),
    maxBodyBytes: positiveInteger(
      'maxBodyBytes',
      options.maxBodyBytes,
      10 * 1024 * 1024,
      1,
      512 * 1024 * 1024,
    ),
    connectTimeoutMs: positiveInteger('connectTimeoutMs', options.connectTimeoutMs, 5000, 1, 600_000),
    maxReconnectDelayMs: positiveInteger('maxReconnectDelayMs', options.maxReconnectDelayMs, 1000, 1, 60_000),
    onRedisError: options.onRedisError ?? (() => {}),
  };
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** Starts the bridge once Redis answers; rejects if Redis cannot be reached within `connectTimeoutMs`. */
export async function startUpstashBridge(options: UpstashBridgeOptions): Promise<UpstashBridge> {
  const o = validate(options);
  const expectedToken = sha256(o.token);
  const scripts = new ScriptShaMap();

  let connectedOnce = false;
  const connectStarted = Date.now();
  const client = createClient({
    url: o.redisUrl,
    RESP: 2, // the v6 default is RESP3, whose map/set replies break @upstash/redis (HGETALL and friends)
    disableOfflineQueue: true, // while Redis is away, fail fast (503) rather than queue requests
    commandOptions: { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } }, // bytes exact for base64
    socket: {
      connectTimeout: o.connectTimeoutMs,
      reconnectStrategy: (retries: number, cause: Error) => {
        if (!connectedOnce && Date.now() - connectStarted >= o.connectTimeoutMs) {
          return new Error(
            `redis at ${o.redisUrl} unreachable for ${o.connectTimeoutMs} ms: ${cause.message}`,
          );
        }
        return Math.min(50 * 2 ** Math.min(retries, 10), o.maxReconnectDelayMs);
      },
    },
  });
  client.on('error', (err: Error) => o.onRedisError(err));
  client.on('ready', () => {
    connectedOnce = true;
  });
  await client.connect();
  const redis = client as unknown as CommandSender;

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // Only a bug lands here; answer in the protocol's shape and keep serving.
      if (!res.headersSent)
        send(res, 500, { error: `ERR internal bridge error: ${(err as Error)?.message}` });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const method = req.method ?? 'GET';
      if (!['GET', 'POST', 'PUT', 'HEAD'].includes(method)) {
        res.setHeader('allow', 'GET, POST, PUT, HEAD');
        throw new BridgeRequestError(405, `ERR method ${method} is not allowed`);
      }
      const url = new URL(req.url ?? '/', 'http://bridge.invalid');
      authorize(req.headers.authorization, url.searchParams.get('_token'));
      const raw = await readBody(req, o.maxBodyBytes);
      const base64 = String(req.headers['upstash-encoding'] ?? '').toLowerCase() === 'base64';
      const reply = await route(url, raw, base64);
      send(res, reply.status, reply.body);
    } catch (err) {
      if (!(err instanceof BridgeRequestError)) throw err;
      if (err.status === 401) res.setHeader('www-authenticate', 'Bearer');
      if (err.status === 413) res.setHeader('connection', 'close');
      send(res, err.status, { error: err.message });
    }
  }

  function authorize(header: string | undefined, queryToken: string | null): void {
    let given: string;
    if (header !== undefined) {
      const match = /^Bearer +(\S+) *$/i.exec(header);
      if (match === null)
        throw new BridgeRequestError(400, 'ERR malformed Authorization header: expected "Bearer <token>"');
      given = match[1] as string;
    } else if (queryToken !== null) {
      given = queryToken;
    } else {
      throw new BridgeRequestError(401, 'Unauthorized: missing token');
    }
    // Constant time: compare fixed-length digests, so neither content nor length leaks through timing.
    if (!timingSafeEqual(sha256(given), expectedToken))
      throw new BridgeRequestError(401, 'Unauthorized: invalid token');
  }

  async function route(url: URL, raw: Buffer, base64: boolean): Promise<Reply> {
    const path = url.pathname.replace(/\/+$/, '');
    if (path === '/pipeline') return runPipeline(parseCommandList(parseJson(raw)), base64);
    if (path === '/multi-exec') return runMultiExec(parseCommandList(parseJson(raw)), base64);
    if (path === '') {
      if (raw.length === 0) throw new BridgeRequestError(400, 'ERR empty request: POST a JSON command array');
      return runOne(parseCommand(parseJson(raw)), base64);
    }
    return runOne(parseCommand(pathCommand(url, raw)), base64);
  }

  async function runOne(args: string[], base64: boolean): Promise<Reply> {
    const prepared = prepareCommand(args, scripts);
    try {
      const reply = (await redis.sendCommand(prepared.args)) as RedisReply;
      return { status: 200, body: { result: resultOf(prepared, reply, base64) } };
    } catch (err) {
      if (isRedisErrorReply(err)) return { status: 400, body: { error: err.message } };
      return unavailable(err);
    }
  }

  async function runPipeline(commands: string[][], base64: boolean): Promise<Reply> {
    const prepared = commands.map((args) => prepareCommand(args, scripts));
    // Sent in one synchronous loop: the client writes them back to back, in order, on its one connection.
    const settled = await Promise.allSettled(prepared.map((p) => redis.sendCommand(p.args)));
    const lost = settled.find((s) => s.status === 'rejected' && !isRedisErrorReply(s.reason));
    if (lost !== undefined) return unavailable((lost as PromiseRejectedResult).reason);
    return {
      status: 200,
      body: settled.map((s, i) =>
        s.status === 'fulfilled'
          ? { result: resultOf(prepared[i] as PreparedCommand, s.value as RedisReply, base64) }
          : { error: (s.reason as Error).message },
      ),
    };
  }

  async function runMultiExec(commands: string[][], base64: boolean): Promise<Reply> {
    const prepared = commands.map((args) => prepareCommand(args, scripts));
    // MULTI, the commands and EXEC go out back to back in one synchronous loop: nothing else on the shared
    // connection can land between them. EXEC's reply carries each command's result (errors included).
    const chainId = Symbol('multi-exec');
    const sent = [['MULTI'], ...prepared.map((p) => p.args), ['EXEC']].map((args) =>
      redis.sendCommand(args, { chainId }),
    );
    const settled = await Promise.allSettled(sent);
    const exec = settled[settled.length - 1] as PromiseSettledResult<unknown>;
    if (exec.status === 'rejected') {
      if (!isRedisErrorReply(exec.reason)) return unavailable(exec.reason);
      // EXECABORT: a command was refused while queueing; report that command's error, as Upstash does.
      const queued = settled.slice(1, -1).find((s) => s.status === 'rejected');
      const reason = queued === undefined ? exec.reason : (queued as PromiseRejectedResult).reason;
      return { status: 400, body: { error: (reason as Error).message } };
    }
    const replies = exec.value as RedisReply[];
    return {
      status: 200,
      body: replies.map((r, i) =>
        isRedisErrorReply(r)
          ? { error: r.message }
          : { result: resultOf(prepared[i] as PreparedCommand, r, base64) },
      ),
    };
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostForUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${hostForUrl}:${address.port}`,
    token: o.token,
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        if (client.isReady) await client.close().catch(() => client.destroy());
        else if (client.isOpen) client.destroy();
      })();
      return closing;
    },
  };
}

function resultOf(prepared: PreparedCommand, reply: RedisReply, base64: boolean): UpstashValue {
  return encodeReply(prepared.clientSha ?? reply, base64);
}

function unavailable(err: unknown): Reply {
  const message = err instanceof Error ? err.message : String(err);
  return { status: 503, body: { error: `ERR redis unavailable: ${message}` } };
}

function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new BridgeRequestError(400, 'ERR request body is not valid JSON');
  }
}

/** `GET /set/foo/bar?EX=100` -> SET foo bar EX 100; a POST body is the last path argument (Upstash's URL form). */
function pathCommand(url: URL, raw: Buffer): string[] {
  let args: string[];
  try {
    args = url.pathname
      .split('/')
      .filter((s) => s.length > 0)
      .map((s) => decodeURIComponent(s));
  } catch {
    throw new BridgeRequestError(400, 'ERR malformed percent-encoding in the URL path');
  }
  if (raw.length > 0) args.push(raw.toString('utf8'));
  for (const [name, value] of url.searchParams) {
    if (name === '_token') continue;
    args.push(name);
    if (value.length > 0) args.push(value);
  }
  return args;
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      reject(new BridgeRequestError(413, `ERR request body over ${limit} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        chunks.length = 0;
        reject(new BridgeRequestError(413, `ERR request body over ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on('error', (err) => {
      if (!failed) {
        failed = true;
        reject(err);
      }
    });
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
