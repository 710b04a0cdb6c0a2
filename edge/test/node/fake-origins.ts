/**
 * Loopback origins for the edge's workerd tests (Node, real HTTP on 127.0.0.1). A control server creates origins on
 * demand so every test owns its own; each origin answers like the real origin's text API (and, for tensor rows of
 * the tiny tensor release, like a teacher on its OIP infer route), verifies the edge's
 * signature with shared/signing, records what it received, and follows a script of behaviours (status, delay,
 * reported queue depth, dropped connection) that tests set over HTTP.
 *
 *   POST {control}/origins {"count": n}            -> {"urls": [...]}
 *   POST {origin}/__behave {"queue": [...], "default": {...}}
 *   GET  {origin}/__log                            -> [{method, path, headers, body, signature}]
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeInferRequest, encodeInferResponse } from '../../../shared/protocol/index.ts';
import { verifyRequest } from '../../../shared/signing/index.ts';
import type { Behaviour, LoggedRequest } from '../fake-origin-api.ts';

interface Origin {
  server: Server;
  queue: Behaviour[];
  fallback: Behaviour;
  log: LoggedRequest[];
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    );
  });
}

function classifyAnswer(body: string, model: string, requestId: string): unknown {
  let texts: string[] = [];
  try {
    const parsed = JSON.parse(body) as { text?: string; texts?: string[] };
    texts = parsed.texts ?? (parsed.text === undefined ? [] : [parsed.text]);
  } catch {
    return { error: { code: 'invalid_json', message: 'bad json', request_id: requestId } };
  }
  return {
    model,
    version: 'origin-v1',
    predictions: texts.map((t) => {
      const spam = /spam/i.test(t);
      // "unsure": the teacher leans ham at 0.6 (under any review threshold); "strange": out of distribution.
      if (/unsure/i.test(t)) return { label: 'ham', score: 0.6, scores: { ham: 0.6, spam: 0.4 } };
      return {
        label: spam ? 'spam' : 'ham',
        score: 0.97,
        scores: { ham: spam ? 0.03 : 0.97, spam: spam ? 0.97 : 0.03 },
        ...(/strange/i.test(t) ? { ood: true, coverage: 0.1, features: 3 } : {}),
      };
    }),
    served_by: 'origin',
    request_id: requestId,
  };
}

/**
 * A teacher for the tiny tensor release (input `x` [n, 3]): row [a, b, c] is spam (0.96) when a + c > b, else ham
 * (0.96), answered as OIP JSON with the `probabilities` output.
 */
function tensorAnswer(raw: Buffer, headerLength: string | undefined, model: string): unknown | undefined {
  const request = decodeInferRequest(new Uint8Array(raw), { headerLength });
  const x = request.inputs.find((t) => t.name === 'x');
  if (x === undefined || x.datatype !== 'FP32') return undefined;
  const rows = x.shape[0] as number;
  const probabilities = new Float32Array(rows * 2);
  for (let r = 0; r < rows; r++) {
    const [a, b, c] = Array.from(x.data.subarray(r * 3, r * 3 + 3) as Float32Array);
    const spam = (a as number) + (c as number) > (b as number);
    probabilities[2 * r] = spam ? 0.04 : 0.96;
    probabilities[2 * r + 1] = spam ? 0.96 : 0.04;
  }
  const encoded = encodeInferResponse({
    model_name: model,
    model_version: 'origin-v1',
    outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [rows, 2], data: probabilities }],
  });
  return JSON.parse(encoded.body as string);
}

async function handleOrigin(
  origin: Origin,
  secret: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://x');
  const raw = await readAll(req);
  const body = raw.toString('utf8');
  if (url.pathname === '/__behave') {
    const b = JSON.parse(body) as { queue?: Behaviour[]; default?: Behaviour };
    origin.queue = b.queue ?? [];
    origin.fallback = b.default ?? {};
    return json(res, 200, { ok: true });
  }
  if (url.pathname === '/__log') return json(res, 200, origin.log);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
  const verdict = await verifyRequest({
    secret,
    method: req.method ?? 'GET',
    path: req.url ?? '/',
    body: new Uint8Array(raw),
    headers,
  });
  const entry: LoggedRequest = {
    method: req.method ?? '',
    path: req.url ?? '',
    headers,
    body,
    signature: verdict.ok ? 'ok' : verdict.reason,
    at: Date.now(),
  };
  origin.log.push(entry);
  const b = origin.queue.shift() ?? origin.fallback;
  if (b.drop === true) {
    req.socket.destroy();
    return;
  }
  if (b.delayMs !== undefined && b.delayMs > 0) {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, b.delayMs);
      res.on('close', () => {
        clearTimeout(t);
        resolve();
      });
    });
    if (res.destroyed || res.writableEnded) {
      entry.aborted = true;
      return;
    }
  }
  const extra: Record<string, string> = {
    ...(b.queueDepth === undefined ? {} : { 'x-queue-depth': String(b.queueDepth) }),
    ...(b.computeMs === undefined ? {} : { 'server-timing': `compute;dur=${b.computeMs}` }),
  };
  const requestId = headers['x-request-id'] ?? 'none';
  // Like the real origin: health GETs are open (probes), everything else must be signed.
  const open = req.method === 'GET' && url.pathname.startsWith('/v2/health/');
  if (!verdict.ok && b.body === undefined && !open) {
    return json(
      res,
      401,
      { error: { code: 'unauthorized', message: verdict.message, request_id: requestId } },
      extra,
    );
  }
  const status = b.status ?? 200;
  const m = /^\/v1\/models\/([^/]+)(?:\/versions\/[^/]+)?\/classify$/.exec(url.pathname);
  const infer = /^\/v2\/models\/([^/]+)(?:\/versions\/[^/]+)?\/infer$/.exec(url.pathname);
  const ready = /^\/v2\/models\/([^/]+)(?:\/versions\/[^/]+)?\/ready$/.exec(url.pathname);
  const metadata = /^\/v2\/models\/([^/]+)(?:\/versions\/[^/]+)?$/.exec(url.pathname);
  let out: unknown = b.body;
  if (out === undefined) {
    if (status >= 400)
      out = {
        error: {
          code: status === 429 ? 'queue_full' : 'unavailable',
          message: `scripted ${status}`,
          request_id: requestId,
        },
      };
    else if (m !== null) out = classifyAnswer(body, decodeURIComponent(m[1] as string), requestId);
    else if (infer !== null) {
      try {
        out = tensorAnswer(
          raw,
          headers['inference-header-content-length'],
          decodeURIComponent(infer[1] as string),
        );
      } catch {
        out = undefined;
      }
      out ??= {
        model_name: decodeURIComponent(infer[1] as string),
        outputs: [],
        origin: true,
        path: url.pathname,
      };
    } else if (metadata !== null) {
      // Shaped like the real origin's model metadata (the edge passes it through), plus what tests look for.
      out = {
        name: decodeURIComponent(metadata[1] as string),
        versions: ['origin-1'],
        platform: 'fake-origin',
        inputs: [],
        outputs: [],
        origin: true,
        path: url.pathname,
      };
    } else if (ready !== null) {
      out = { name: decodeURIComponent(ready[1] as string), ready: true, origin: true, path: url.pathname };
    } else out = { origin: true, path: url.pathname };
  }
  // Like the real origin, a model answer names the version that gave it.
  if (status < 400 && (m !== null || infer !== null) && extra['x-model-version'] === undefined) {
    extra['x-model-version'] = 'origin-1';
  }
  json(res, status, out, extra);
}

export interface FakeOrigins {
  controlUrl: string;
  close(): Promise<void>;
}

export async function startFakeOrigins(secret: string): Promise<FakeOrigins> {
  const origins: Origin[] = [];
  const control = createServer((req, res) => {
    void (async () => {
      const body = (await readAll(req)).toString('utf8');
      if (req.method === 'POST' && req.url === '/origins') {
        const { count } = JSON.parse(body || '{}') as { count?: number };
        const urls: string[] = [];
        for (let i = 0; i < (count ?? 1); i++) {
          const origin: Origin = { server: createServer(), queue: [], fallback: {}, log: [] };
          origin.server.on('request', (rq: IncomingMessage, rs: ServerResponse) => {
            handleOrigin(origin, secret, rq, rs).catch((err: unknown) => {
              if (!rs.headersSent) json(rs, 500, { error: String(err) });
            });
          });
          origins.push(origin);
          urls.push(await listen(origin.server));
        }
        return json(res, 200, { urls });
      }
      json(res, 404, { error: 'unknown control route' });
    })();
  });
  const controlUrl = await listen(control);
  return {
    controlUrl,
    async close() {
      for (const o of [...origins.map((x) => x.server), control]) {
        o.closeAllConnections();
        await new Promise<void>((resolve) => o.close(() => resolve()));
      }
    },
  };
}
