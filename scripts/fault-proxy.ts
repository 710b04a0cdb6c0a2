/**
 * A small fault-and-delay HTTP proxy, loopback only: test infrastructure for the regions stack and its benchmark.
 * Each origin process sits behind one proxy, so a test can make one pool slow, flaky, silent or rude while the
 * others stay healthy, and watch what the client (routing, hedging, breakers) does about it.
 *
 * Every request other than the control route is first delayed by `latency_ms` (+ `latency_by_colo[colo]` when the
 * request's `x-edge-colo` header names a colo listed there: one proxy per pool emulates a whole colo-to-pool RTT
 * matrix) + uniform [0, `jitter_ms`) (+ `slow_ms` for a `slow_share` of requests), then, in this order: reset
 * (`reset`), held forever (`blackhole`), answered by the proxy with `error_status` (an `error_rate` share of
 * requests), or forwarded to `target`, streamed both ways. Random draws per request, in order: jitter, slow tail, error. When the client closes before the
 * upstream answered (during the delay too), the upstream request is aborted and counted in `aborted`.
 *
 * Besides the outcome counts it counts requests per `x-edge-colo` (`by_colo`) and per x-request-id prefix (the part
 * before the first ':' of ids that have one, `by_request_prefix`: a benchmark tags a stream `pinned:17` and counts
 * where it went), keeps the highest `x-queue-depth` an upstream answer reported (`queue_depth_peak`), and how many
 * requests the upstream holds (forwarded, not yet answered to the end or aborted: `upstream_inflight`, and its
 * highest value `upstream_inflight_peak`).
 *
 * Control API on the proxy itself (never forwarded, never delayed, not counted):
 *   GET    /__fault                  -> { fault, counts }
 *   POST   /__fault  {partial Fault} -> the merged fault (400 on bad JSON or an unknown/invalid field)
 *   DELETE /__fault                  -> back to the baseline fault (the defaults, or `baseline`; counts are kept)
 *   add ?reset_counts=1 to POST or DELETE to zero the counts as well.
 *
 *   curl -X POST 'http://127.0.0.1:8701/__fault' -d '{"latency_ms":80,"slow_share":0.05,"slow_ms":1500}'
 *   curl -X POST 'http://127.0.0.1:8701/__fault' -d '{"latency_by_colo":{"FRA":5,"IAD":80,"SIN":150}}'
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
  /**
   * Added to `latency_ms` for requests whose `x-edge-colo` header names the colo (case-insensitive), ms. A POST
   * replaces the whole map. @default {}
   */
  latency_by_colo: Record<string, number>;
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
  /** Requests seen per `x-edge-colo` header value (upper case); requests without one are not counted here. */
  by_colo: Record<string, number>;
  /** Requests seen per x-request-id prefix (before the first ':'); ids without a ':' are not counted here. */
  by_request_prefix: Record<string, number>;
  /** Highest `x-queue-depth` header of an upstream answer; null before any. */
  queue_depth_peak: number | null;
  /** Requests forwarded upstream whose exchange has not ended (answered, failed or aborted). Not zeroed by a reset. */
  upstream_inflight: number;
  /** Highest upstream_inflight (since the last reset: then the value at that moment). */
  upstream_inflight_peak: number;
}

export interface FaultProxy {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  fault(): Fault;
  /** Merges over the current fault; throws a TypeError naming the bad field. */
  set(f: Partial<Fault>): void;
  /** Back to the baseline fault (the defaults, or `baseline`); counts are kept. */
  clear(): void;
  counts(): FaultCounts;
  /** Zeroes the counts (as `?reset_counts=1`). */
  resetCounts(): void;
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
  /**
   * The fault it starts with and that clear() and DELETE return to, over the defaults: e.g. the `latency_by_colo`
   * of an emulated RTT matrix, which clearing an injected fault should keep. @default {}
   */
  baseline?: Partial<Fault>;
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
  latency_by_colo: {},
};
/** Counts at zero (also what the regions stack sums its proxies' counts from). */
export const zeroCounts = (): FaultCounts => ({
  requests: 0,
  forwarded: 0,
  errors: 0,
  blackholed: 0,
  resets: 0,
  aborted: 0,
  by_colo: {},
  by_request_prefix: {},
  queue_depth_peak: null,
  upstream_inflight: 0,
  upstream_inflight_peak: 0,
});
const copyFault = (f: Fault): Fault => ({ ...f, latency_by_colo: { ...f.latency_by_colo } });
const copyCounts = (c: FaultCounts): FaultCounts => ({
  ...c,
  by_colo: { ...c.by_colo },
  by_request_prefix: { ...c.by_request_prefix },
});

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
    latency_by_colo: z
      .record(z.string().regex(/^[A-Za-z0-9]{1,8}$/, 'a colo code (FRA, IAD, ...)'), ms)
      .transform((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k.toUpperCase(), v]))),
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

/** One header's value (the first of repeated ones), or undefined. */
function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function bump(record: Record<string, number>, key: string): void {
  record[key] = (record[key] ?? 0) + 1;
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
  const baseline: Fault = { ...copyFault(DEFAULT_FAULT), ...parsePatch(options.baseline ?? {}) };
  const agent = new Agent({ keepAlive: true });
  let current: Fault = copyFault(baseline);
  let counts: FaultCounts = zeroCounts();
  let inflight = 0;
  const resetCounts = () => {
    counts = { ...zeroCounts(), upstream_inflight: inflight, upstream_inflight_peak: inflight };
  };

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
    const colo = header(req.headers, 'x-edge-colo')?.toUpperCase();
    if (colo !== undefined && colo !== '') bump(counts.by_colo, colo);
    const id = header(req.headers, 'x-request-id');
    const colon = id?.indexOf(':') ?? -1;
    if (id !== undefined && colon > 0) bump(counts.by_request_prefix, id.slice(0, colon));
    const f = current;
    const delay =
      f.latency_ms +
      (colo === undefined ? 0 : (f.latency_by_colo[colo] ?? 0)) +
      f.jitter_ms * random() +
      (random() < f.slow_share ? f.slow_ms : 0);
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
      inflight++;
      counts.upstream_inflight = inflight;
      if (inflight > counts.upstream_inflight_peak) counts.upstream_inflight_peak = inflight;
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
      // 'close' ends every exchange once: answered to the end, failed, or destroyed by an abort.
      up.once('close', () => {
        inflight--;
        counts.upstream_inflight = inflight;
      });
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
        const depth = Number(header(ur.headers, 'x-queue-depth'));
        if (Number.isFinite(depth) && depth > (counts.queue_depth_peak ?? -1))
          counts.queue_depth_peak = depth;
        res.writeHead(ur.statusCode ?? 502, ur.statusMessage, endToEnd(ur.headers));
        ur.pipe(res);
      });
      req.pipe(up);
    }
  });
  server.on('clientError', (_err, socket) => socket.destroy());

  type Send = (status: number, body: unknown) => void;
  function control(method: string, url: URL, req: IncomingMessage, send: Send) {
    const maybeZeroCounts = () => {
      if (url.searchParams.get('reset_counts') === '1') resetCounts();
    };
    if (method === 'GET') return send(200, { fault: copyFault(current), counts: copyCounts(counts) });
    if (method === 'DELETE') {
      current = copyFault(baseline);
      maybeZeroCounts();
      return send(200, copyFault(current));
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
      maybeZeroCounts();
      send(200, copyFault(current));
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
    fault: () => copyFault(current),
    set: (f) => {
      current = { ...current, ...parsePatch(f) };
    },
    clear: () => {
      current = copyFault(baseline);
    },
    counts: () => copyCounts(counts),
    resetCounts,
    stop: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      agent.destroy();
      await closed;
    },
  };
}
