/**
 * A small fault-and-delay HTTP proxy, loopback only: test infrastructure for the regions stack and its benchmark.
 * Each origin process sits behind one proxy, so a test can make one pool slow, flaky, silent or rude while the
 * others stay healthy, and watch what the client (routing, hedging, breakers) does about it.
 *
 * Every request other than the control route is first delayed by `latency_ms` + uniform [0, `jitter_ms`) (+
 * `slow_ms` for a `slow_share` of requests), then, in this order: reset (`reset`), held forever (`blackhole`),
 * answered by the proxy with `error_status` (an `error_rate` share of requests), or forwarded to `target`, streamed
 * both ways. Random draws per request, in order: jitter, slow tail, error. When the client closes before the
 * upstream answered (during the delay too), the upstream request is aborted and counted in `aborted`.
 *
 * Control API on the proxy itself (never forwarded, never delayed, not counted):
 *   GET    /__fault                  -> { fault, counts }
 *   POST   /__fault  {partial Fault} -> the merged fault (400 on bad JSON or an unknown/invalid field)
 *   DELETE /__fault                  -> the default fault (counts are kept)
 *   add ?reset_counts=1 to POST or DELETE to zero the counts as well.
 *
 *   curl -X POST 'http://127.0.0.1:8701/__fault' -d '{"latency_ms":80,"slow_share":0.05,"slow_ms":1500}'
 */
import {
  Agent,
  type ClientRequest,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';

export interface Fault {
  /** Added before each request is handled, ms. @default 0 */
  latency_ms: number;
  /** Plus uniform [0, jitter_ms), ms. @default 0 */
  jitter_ms: number;
  /** Share (0..1) of requests that wait `slow_ms` more: a slow tail. @default 0 */
  slow_share: number;
  /** @default 0 */
  slow_ms: number;
  /** Share (0..1) answered by the proxy itself with `error_status` and an `unavailable` JSON error. @default 0 */
  error_rate: number;
  /** @default 503 */
  error_status: number;
  /** Accept requests and never answer or forward them (held until the client gives up). @default false */
  blackhole: boolean;
  /** Reset the client's connection without an answer. @default false */
  reset: boolean;
}

export interface FaultCounts {
  /** Requests seen (control requests excluded). */
  requests: number;
  forwarded: number;
  errors: number;
  blackholed: number;
  resets: number;
  /** Client closed before the upstream answered (or during the delay): upstream request aborted. */
  aborted: number;
}

export interface FaultProxy {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  fault(): Fault;
  /** Merges over the current fault; throws a TypeError naming the bad field. */
  set(f: Partial<Fault>): void;
  /** Back to the defaults; counts are kept. */
  clear(): void;
  counts(): FaultCounts;
  /** Closes the server and destroys every open connection, blackholed ones included. */
  stop(): Promise<void>;
}

export interface FaultProxyOptions {
  /** Upstream base URL, http only; only its host and port are used. */
  target: string;
  /** @default 0 (a free port) */
  port?: number;
  /** Loopback only. @default '127.0.0.1' */
  host?: '127.0.0.1';
  /** Source of uniform [0, 1) draws. @default Math.random */
  random?: () => number;
}

const DEFAULT_FAULT: Fault = {
  latency_ms: 0,
  jitter_ms: 0,
  slow_share: 0,
  slow_ms: 0,
  error_rate: 0,
  error_status: 503,
  blackhole: false,
  reset: false,
};
const ZERO_COUNTS: FaultCounts = {
  requests: 0,
  forwarded: 0,
  errors: 0,
  blackholed: 0,
  resets: 0,
  aborted: 0,
};

const ms = z.number().min(0).max(600_000);
const share = z.number().min(0).max(1);
/** A partial Fault; unknown fields are refused so a typo cannot silently inject nothing. */
const FaultPatch = z
  .strictObject({
    latency_ms: ms,
    jitter_ms: ms,
    slow_share: share,
    slow_ms: ms,
    error_rate: share,
    error_status: z.number().int().min(400).max(599),
    blackhole: z.boolean(),
    reset: z.boolean(),
  })
  .partial();

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer']);
const CONTROL_BODY_LIMIT = 64 * 1024;

function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!HOP_BY_HOP.has(name) && !name.startsWith('proxy-')) out[name] = value;
  }
  return out;
}

function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

function parsePatch(input: unknown): Partial<Fault> {
  const parsed = FaultPatch.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => `${i.path.join('.') || 'fault'}: ${i.message}`);
  throw new TypeError(`invalid fault: ${issues.join('; ')}`);
}

/** Starts a proxy on loopback in front of `target`; resolves once it listens. */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const host = options.host ?? '127.0.0.1';
  if (host !== '127.0.0.1')
    throw new TypeError(`host: expected '127.0.0.1' (loopback only), received ${host}`);
  const target = new URL(options.target);
  if (target.protocol !== 'http:')
    throw new TypeError(`target: expected an http:// URL, received ${options.target}`);
  const random = options.random ?? Math.random;
  const agent = new Agent({ keepAlive: true });
  let current: Fault = { ...DEFAULT_FAULT };
  let counts: FaultCounts = { ...ZERO_COUNTS };

  const server = createServer((req, res) => {
    req.on('error', () => {});
    res.on('error', () => {});
    const send = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
      });
      res.end(text);
    };
    const url = new URL(req.url ?? '/', 'http://proxy');
    if (url.pathname === '/__fault') return control(req.method ?? 'GET', url, req, send);

    counts.requests++;
    const f = current;
    const delay = f.latency_ms + f.jitter_ms * random() + (random() < f.slow_share ? f.slow_ms : 0);
    const fail = random() < f.error_rate;
    // waiting: in the injected delay; upstream: forwarded, no answer yet; streaming: answering; done: settled.
    let state: 'waiting' | 'upstream' | 'streaming' | 'done' = 'waiting';
    let upstream: ClientRequest | undefined;
    const timer = setTimeout(act, delay);
    res.once('close', () => {
      if (res.writableFinished) return;
      if (state === 'waiting' || state === 'upstream') counts.aborted++;
      clearTimeout(timer);
      upstream?.destroy();
      state = 'done';
    });

    function act() {
      if (state !== 'waiting') return;
      if (f.reset) {
        state = 'done';
        counts.resets++;
        req.socket.resetAndDestroy();
      } else if (f.blackhole) {
        state = 'done';
        counts.blackholed++;
        req.resume();
      } else if (fail) {
        state = 'done';
        counts.errors++;
        req.resume();
        send(f.error_status, errorBody('unavailable', 'injected by fault proxy'));
      } else {
        forward();
      }
    }

    function forward() {
      state = 'upstream';
      counts.forwarded++;
      const headers = { ...endToEnd(req.headers), host: target.host };
      const up = httpRequest({
        agent,
        host: target.hostname,
        port: target.port || 80,
        method: req.method,
        path: req.url,
        headers,
      });
      upstream = up;
      up.on('error', () => {
        if (state === 'upstream') {
          state = 'done';
          send(502, errorBody('bad_gateway', `upstream ${target.host} unreachable`));
        } else if (state === 'streaming') {
          res.destroy();
        }
      });
      up.on('response', (ur) => {
        ur.on('error', () => res.destroy());
        if (state !== 'upstream') {
          ur.destroy();
          return;
        }
        state = 'streaming';
        res.writeHead(ur.statusCode ?? 502, ur.statusMessage, endToEnd(ur.headers));
        ur.pipe(res);
      });
      req.pipe(up);
    }
  });
  server.on('clientError', (_err, socket) => socket.destroy());

  type Send = (status: number, body: unknown) => void;
  function control(method: string, url: URL, req: IncomingMessage, send: Send) {
    const zeroCounts = () => {
      if (url.searchParams.get('reset_counts') === '1') counts = { ...ZERO_COUNTS };
    };
    if (method === 'GET') return send(200, { fault: { ...current }, counts: { ...counts } });
    if (method === 'DELETE') {
      current = { ...DEFAULT_FAULT };
      zeroCounts();
      return send(200, { ...current });
    }
    if (method !== 'POST')
      return send(405, errorBody('method_not_allowed', 'use GET, POST or DELETE /__fault'));
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= CONTROL_BODY_LIMIT) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > CONTROL_BODY_LIMIT)
        return send(413, errorBody('payload_too_large', 'fault body over 64 KiB'));
      let input: unknown;
      try {
        input = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return send(400, errorBody('invalid_json', 'body is not JSON'));
      }
      try {
        current = { ...current, ...parsePatch(input) };
      } catch (err) {
        return send(400, errorBody('invalid_input', (err as Error).message));
      }
      zeroCounts();
      send(200, { ...current });
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://${host}:${port}`,
    port,
    fault: () => ({ ...current }),
    set: (f) => {
      current = { ...current, ...parsePatch(f) };
    },
    clear: () => {
      current = { ...DEFAULT_FAULT };
    },
    counts: () => ({ ...counts }),
    stop: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      agent.destroy();
      await closed;
    },
  };
}
