/**
 * A seeded generator of malformed and random HTTP requests for the edge and the origin (test/e2e, test/faults),
 * and the check every answer must pass: no 5xx but a 504 deadline_exceeded for a client's own x-deadline-ms, and every
 * error in the one JSON shape.
 */
import { hostileMessages } from '../shared/featurizer/hostile.ts';
import { signRequest } from '../shared/signing/index.ts';
import { mulberry32 } from '../training/src/onnx/mlp.ts';
import { isErrorShape } from './helpers.ts';

/** mulberry32: small, seeded, reproducible (the generator the test MLP's weights use). */
export const rng = mulberry32;

export interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Uint8Array<ArrayBuffer> | undefined;
}

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;

function randomString(r: () => number, max: number): string {
  const n = Math.floor(r() * max);
  let s = '';
  for (let i = 0; i < n; i++) {
    const k = r();
    s +=
      k < 0.7
        ? String.fromCharCode(32 + Math.floor(r() * 95))
        : k < 0.85
          ? String.fromCodePoint(0x80 + Math.floor(r() * 0x2000))
          : k < 0.95
            ? pick(r, ['\n', '\t', '"', '\\', '{', '}', '[', ']', '\u0000', '\ud800'])
            : String.fromCodePoint(0x1f600 + Math.floor(r() * 80));
  }
  // A lone surrogate is kept in bodies on purpose (JSON escapes it); URLs and headers need well-formed text.
  return s;
}

const wellFormed = (s: string) => s.replace(/\p{Cs}/gu, '\ufffd');

function randomJson(r: () => number, depth: number): unknown {
  const k = r();
  if (depth > 3 || k < 0.2)
    return pick(r, [null, true, false, 0, -1, 1e308, -0, 3.5, Number.MAX_SAFE_INTEGER + 2]);
  if (k < 0.45) return randomString(r, 40);
  if (k < 0.7) return Array.from({ length: Math.floor(r() * 5) }, () => randomJson(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(r() * 4); i > 0; i--)
    o[
      pick(r, [
        'texts',
        'text',
        'inputs',
        'outputs',
        'parameters',
        'name',
        'shape',
        'datatype',
        'data',
        randomString(r, 8),
      ])
    ] = randomJson(r, depth + 1);
  return o;
}

const PATHS = [
  '/v1/models/spam/classify',
  '/v1/models/spam/versions/1/classify',
  '/v1/models/spam/versions/../../etc/classify',
  '/v1/models/%00/classify',
  '/v1/models/nope/classify',
  '/v2/models/spam/infer',
  '/v2/models/spam/versions/x/infer',
  '/v2/models/spam',
  '/v2/models/spam/ready',
  '/v2/health/ready',
  '/v2',
  '/',
  '/v1/models/spam/classify?x=1&x=2',
  '/v1/models/spam/classify/../classify',
  '/metrics',
];

/** Messages built to make pattern scans backtrack (shared/featurizer/hostile.ts), 4 KB each. */
const HOSTILE = hostileMessages(4096).map((h) => h.text);

/** An OIP request under the binary tensor extension: JSON header + raw bytes, lengths right or wrong. */
function binaryBody(r: () => number): { body: Uint8Array<ArrayBuffer>; headerLength: string } {
  const n = Math.floor(r() * 3);
  const strings = Array.from({ length: n }, () => (r() < 0.5 ? pick(r, HOSTILE) : randomString(r, 60)));
  const raw = strings.map((s) => new TextEncoder().encode(s));
  const bytes = new Uint8Array(raw.reduce((a, b) => a + 4 + b.length, 0));
  let o = 0;
  for (const b of raw) {
    new DataView(bytes.buffer).setUint32(o, b.length, true);
    bytes.set(b, o + 4);
    o += 4 + b.length;
  }
  // Corrupt BYTES elements: a length prefix past the end or huge, bytes that are not UTF-8.
  if (bytes.length >= 4 && r() < 0.3) {
    const at = Math.floor(r() * (bytes.length - 3));
    if (r() < 0.5)
      new DataView(bytes.buffer).setUint32(at, pick(r, [0xffffffff, bytes.length, 1 << 30]), true);
    else bytes.set(pick(r, [[0xc3, 0x28], [0xff], [0xed, 0xa0, 0x80]]).slice(0, bytes.length - at), at);
  }
  const header = new TextEncoder().encode(
    JSON.stringify({
      inputs: [
        {
          name: pick(r, ['text', 'input', 'ids']),
          datatype: pick(r, ['BYTES', 'FP32', 'INT32', 'FP16']),
          shape: pick(r, [[n], [n, 1], [1e9]]),
          parameters: { binary_data_size: pick(r, [bytes.length, bytes.length + 3, 0, -1]) },
        },
      ],
      outputs:
        r() < 0.5
          ? [{ name: pick(r, ['probabilities', 'label', 'logits']), parameters: { binary_data: true } }]
          : undefined,
    }),
  );
  const body = new Uint8Array(header.length + bytes.length);
  body.set(header, 0);
  body.set(bytes, header.length);
  const headerLength = pick(r, [
    String(header.length),
    String(header.length + 1),
    '0',
    'x',
    String(body.length + 5),
  ]);
  return { body, headerLength };
}

function body(r: () => number, path: string): string | Uint8Array<ArrayBuffer> | undefined {
  const k = r();
  if (k < 0.1) return undefined;
  if (k < 0.16)
    return JSON.stringify(
      r() < 0.5 ? { text: pick(r, HOSTILE) } : { texts: [pick(r, HOSTILE), pick(r, HOSTILE)] },
    );
  if (k < 0.2 && path.includes('infer')) {
    const texts = [pick(r, HOSTILE), randomString(r, 40)];
    return JSON.stringify({
      inputs: [
        {
          name: 'text',
          datatype: 'BYTES',
          shape: pick(r, [[2, 1], [2], [1, 2], [3]]),
          data: texts.map((t) => [t]),
        },
      ],
      outputs: r() < 0.5 ? [{ name: pick(r, ['probabilities', 'label', 'logits', '']) }] : undefined,
      parameters: r() < 0.5 ? { priority: pick(r, [1, 0, -1, 'high', 1e9]) } : undefined,
    });
  }
  if (k < 0.2) return Uint8Array.from({ length: Math.floor(r() * 200) }, () => Math.floor(r() * 256));
  if (k < 0.35) return JSON.stringify(randomJson(r, 0)).slice(0, Math.floor(r() * 60)); // truncated JSON
  if (k < 0.55) return JSON.stringify(randomJson(r, 0));
  if (k < 0.7)
    return JSON.stringify({
      texts: Array.from({ length: Math.floor(r() * 12) }, () =>
        r() < 0.8 ? randomString(r, 300) : randomJson(r, 2),
      ),
    });
  if (k < 0.8) return JSON.stringify({ text: randomString(r, 200) });
  if (k < 0.93 && path.includes('infer')) {
    const n = Math.floor(r() * 4);
    return JSON.stringify({
      inputs: [
        {
          name: pick(r, ['text', 'input', 'x', '']),
          shape: pick(r, [[n], [n, 1], [-1], [1e9], []]),
          datatype: pick(r, ['BYTES', 'FP32', 'INT64', 'bytes', 'X']),
          data: Array.from({ length: n }, () => randomJson(r, 3)),
        },
      ],
    });
  }
  return randomString(r, 500);
}

/** The i-th request of seed `seed`; `key` is a valid API key used some of the time. */
export function fuzzRequest(r: () => number, key: string): FuzzRequest {
  const method = pick(r, [
    'POST',
    'POST',
    'POST',
    'POST',
    'GET',
    'PUT',
    'DELETE',
    'PATCH',
    'OPTIONS',
    'HEAD',
  ]);
  const path = r() < 0.1 ? `/${encodeURIComponent(wellFormed(randomString(r, 30)))}` : pick(r, PATHS);
  const headers: Record<string, string> = {};
  const a = r();
  if (a < 0.5) headers.authorization = `Bearer ${key}`;
  else if (a < 0.6) headers.authorization = `Bearer ${key.slice(0, Math.floor(r() * key.length))}`;
  else if (a < 0.7)
    headers.authorization = pick(r, ['Basic abc', 'Bearer', 'bearer x', `Token ${key}`, 'Bearer  ']);
  else if (a < 0.75) headers.authorization = encodeURIComponent(wellFormed(randomString(r, 80)));
  const ct = r();
  if (ct < 0.6) headers['content-type'] = 'application/json';
  else if (ct < 0.8)
    headers['content-type'] = pick(r, [
      'text/plain',
      'application/json; charset=latin1',
      'multipart/form-data',
      'application/octet-stream',
      'application/x-www-form-urlencoded',
      '*/*',
      'application/JSON',
    ]);
  if (r() < 0.2) headers['x-escalate'] = pick(r, ['auto', 'always', 'never', 'sometimes', '', 'ALWAYS ']);
  if (r() < 0.1)
    headers['cache-control'] = pick(r, [
      'no-cache',
      'no-store',
      'max-age=0',
      'garbage',
      'no-cache, no-store',
    ]);
  if (r() < 0.1) headers['x-deadline-ms'] = pick(r, ['0', '-1', '1', '100000000', 'abc', '50', ' ']);
  if (r() < 0.1) headers['x-priority'] = pick(r, ['1', '0', '99', 'high', '-1', '1e3']);
  if (r() < 0.1) headers['x-request-id'] = pick(r, ['', 'a'.repeat(300), 'ok-id', '../../x']);
  if (r() < 0.05)
    headers.traceparent = pick(r, [
      '00-xyz',
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      'ff-'.repeat(20),
    ]);
  if (method === 'POST' && path.includes('infer') && r() < 0.1) {
    const bin = binaryBody(r);
    headers['content-type'] = pick(r, ['application/octet-stream', 'application/json']);
    headers['inference-header-content-length'] = bin.headerLength;
    return { method, path, headers, body: bin.body };
  }
  const b = method === 'GET' || method === 'HEAD' ? undefined : body(r, path);
  return { method, path, headers, body: typeof b === 'string' ? new TextEncoder().encode(b) : b };
}

/** Signs a fuzz request for the origin (the origin only takes signed requests: this reaches past its auth). */
export async function signFuzz(req: FuzzRequest, secret: string): Promise<FuzzRequest> {
  const sig = await signRequest({ secret, method: req.method, path: req.path, body: req.body ?? null });
  return { ...req, headers: { ...req.headers, ...sig } };
}

export interface FuzzVerdict {
  status: number;
  ok: boolean;
  why?: string;
}

/** Sends one request and judges its answer: < 500, and every >= 400 an error in the JSON shape. */
export async function sendFuzz(base: string, req: FuzzRequest, timeoutMs = 20_000): Promise<FuzzVerdict> {
  const res = await fetch(`${base}${req.path}`, {
    method: req.method,
    headers: req.headers,
    body: req.body,
    signal: AbortSignal.timeout(timeoutMs),
    redirect: 'manual',
  });
  const text = await res.text();
  const where = `${req.method} ${req.path} -> ${res.status}`;
  if (res.status >= 500) {
    // Only where the contract says so: a deadline the client gave that ran out (504 deadline_exceeded, e.g.
    // x-deadline-ms: 1). Never a 500; never a 502/503 from a healthy stack.
    let code: unknown;
    try {
      code = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
    } catch {
      code = undefined;
    }
    const deadline =
      res.status === 504 && code === 'deadline_exceeded' && req.headers['x-deadline-ms'] !== undefined;
    if (!deadline) return { status: res.status, ok: false, why: `${where}: 5xx ${text.slice(0, 200)}` };
  }
  if (res.status >= 400 && req.method !== 'HEAD') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return {
        status: res.status,
        ok: false,
        why: `${where}: error body is not JSON: ${text.slice(0, 200)}`,
      };
    }
    if (!isErrorShape(parsed))
      return { status: res.status, ok: false, why: `${where}: not the error shape: ${text.slice(0, 200)}` };
  }
  return { status: res.status, ok: true };
}

/** Runs `n` fuzz requests against `base` with `concurrency` workers; returns the failures and a status histogram. */
export async function runFuzz(
  base: string,
  n: number,
  concurrency: number,
  make: (i: number) => Promise<FuzzRequest>,
): Promise<{ failures: string[]; statuses: Record<number, number> }> {
  const failures: string[] = [];
  const statuses: Record<number, number> = {};
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        try {
          const v = await sendFuzz(base, await make(i));
          statuses[v.status] = (statuses[v.status] ?? 0) + 1;
          if (!v.ok && v.why !== undefined) failures.push(v.why);
        } catch (err) {
          failures.push(`request ${i}: ${String(err)} ${String((err as Error).cause ?? '')}`);
        }
      }
    }),
  );
  return { failures, statuses };
}
