/**
 * Open Inference Protocol v2 at the edge. Health and server metadata are answered here. Model metadata, readiness
 * and infer are answered here when the model's release is at the edge and (for infer) the input is text: one
 * BYTES input of strings, JSON-encoded. Everything else (tensor inputs, the binary extension, other models) is
 * proxied to the origin pool, signed, with the request's deadline.
 */
import type { Context } from 'hono';
import { InferenceError, InvalidInputError } from '../../../shared/errors/index.ts';
import { mediaType } from '../../../shared/http/index.ts';
import { stringsFromJson } from '../../../shared/protocol/codec.ts';
import { checkItemCount } from '../../../shared/protocol/limits.ts';
import { HEADER_LENGTH_HEADER, InferRequestHeader } from '../../../shared/protocol/oip.ts';
import { type AnswerDeps, answerTexts, parseEscalateHeader } from '../cascade/index.ts';
import { type EdgeRelease, loadEdgeModel } from '../model/edge-model.ts';
import { originHeaders, tierPriority } from '../origin-client/index.ts';
import type { AppEnv } from '../types.ts';
import { modelParams, readBody, readJson, requestDeadline } from './request.ts';

export const SERVER_NAME = 'spam-edge';
export const SERVER_VERSION = '0.1.0';

function releaseAt(deps: AnswerDeps, model: string, version: string | undefined): EdgeRelease | undefined {
  const r = deps.releases().find((x) => x.manifest.name === model);
  return r !== undefined && (version === undefined || version === r.manifest.version) ? r : undefined;
}

export function liveHandler(c: Context<AppEnv>): Response {
  return c.json({ live: true });
}

/** Ready when every embedded release's student verified and loaded. */
export function readyHandler(deps: AnswerDeps) {
  return async function ready(c: Context<AppEnv>): Promise<Response> {
    const results = await Promise.allSettled(deps.releases().map((r) => loadEdgeModel(r)));
    const failed = results.filter((r) => r.status === 'rejected').length;
    if (failed > 0) throw new InferenceError('not_ready', `${failed} edge model(s) failed to load`);
    return c.json({ ready: true });
  };
}

export function serverMetadataHandler(c: Context<AppEnv>): Response {
  return c.json({ name: SERVER_NAME, version: SERVER_VERSION, extensions: ['binary_tensor_data'] });
}

/** Forwards the request to the origin pool (signed, deadline, trace); the origin's answer is returned as is. */
async function proxy(c: Context<AppEnv>, deps: AnswerDeps, body: Uint8Array | undefined): Promise<Response> {
  const config = c.get('config');
  const deadline = requestDeadline(c, config.requestDeadlineMs, deps.now());
  const url = new URL(c.req.url);
  const forwarded: Record<string, string> = { accept: c.req.header('accept') ?? 'application/json' };
  // tracestate comes from the trace (W3C: dropped when the caller's traceparent was invalid), as on escalation.
  for (const name of ['content-type', HEADER_LENGTH_HEADER]) {
    const v = c.req.header(name);
    if (v !== undefined) forwarded[name] = v;
  }
  const headers = originHeaders(c.get('requestId'), c.get('trace'), forwarded);
  const result = await deps.pool(c).send({
    method: c.req.method,
    path: url.pathname + url.search,
    body,
    headers,
    deadline,
    priority: tierPriority(c),
  });
  const log = c.get('log');
  log.served_by = 'proxy';
  log.origin = result.origin;
  log.origin_attempts = result.attempts;
  const out = new Headers();
  for (const name of ['content-type', HEADER_LENGTH_HEADER, 'x-model-version']) {
    const v = result.response.headers.get(name);
    if (v !== null) out.set(name, v);
  }
  out.set('x-served-by', 'origin');
  return new Response(result.response.body, { status: result.response.status, headers: out });
}

export function modelMetadataHandler(deps: AnswerDeps) {
  return async function modelMetadata(c: Context<AppEnv>): Promise<Response> {
    const { model, version } = modelParams(c);
    const release = releaseAt(deps, model, version);
    if (release === undefined) return proxy(c, deps, undefined);
    const m = release.manifest;
    return c.json(
      {
        name: m.name,
        versions: [m.version],
        platform: 'onnxruntime-web',
        inputs: [{ name: 'text', datatype: 'BYTES', shape: [-1] }],
        outputs: [
          { name: 'probabilities', datatype: 'FP32', shape: [-1, m.labels.length] },
          { name: 'label', datatype: 'BYTES', shape: [-1] },
        ],
        parameters: { labels: m.labels, threshold: m.threshold ?? 0.5, served_at: 'edge' },
      },
      200,
      { 'x-served-by': 'edge', 'x-model-version': m.version },
    );
  };
}

export function modelReadyHandler(deps: AnswerDeps) {
  return async function modelReady(c: Context<AppEnv>): Promise<Response> {
    const { model, version } = modelParams(c);
    const release = releaseAt(deps, model, version);
    if (release === undefined) return proxy(c, deps, undefined);
    const ok = await loadEdgeModel(release).then(
      () => true,
      () => false,
    );
    if (!ok) return proxy(c, deps, undefined);
    return c.json({ name: model, ready: true }, 200, {
      'x-served-by': 'edge',
      'x-model-version': release.manifest.version,
    });
  };
}

/** The outputs the edge answers a text model's OIP request with (its metadata lists the same). */
const TEXT_OUTPUTS = ['probabilities', 'label'];

/** The strings of a JSON OIP request whose only input is BYTES text; undefined for anything else. */
function textInput(
  json: unknown,
): { id: string | undefined; texts: string[]; outputs: string[] | undefined } | undefined {
  const parsed = InferRequestHeader.safeParse(json);
  if (!parsed.success)
    throw new InvalidInputError(
      `invalid inference request: ${parsed.error.issues[0]?.message ?? 'bad shape'}`,
    );
  const inputs = parsed.data.inputs;
  if (inputs.length !== 1 || inputs[0]?.datatype !== 'BYTES') return undefined;
  const input = inputs[0];
  const data = input.data;
  if (Array.isArray(data)) checkItemCount(data.length);
  // Flat or nested (row-major, as KServe's examples send), checked against the shape: the codec's rules.
  const texts = stringsFromJson(input.name, input.shape, data);
  checkItemCount(texts.length);
  if (texts.length === 0) {
    throw new InvalidInputError(`input '${input.name}': BYTES data must be a non-empty array of strings`);
  }
  const outputs = parsed.data.outputs?.map((o) => o.name);
  const unknown = outputs?.filter((o) => !TEXT_OUTPUTS.includes(o)) ?? [];
  if (unknown.length > 0) {
    throw new InvalidInputError(
      `model has no output ${unknown.map((o) => `'${o}'`).join(', ')} (outputs: ${TEXT_OUTPUTS.join(', ')})`,
    );
  }
  return { id: parsed.data.id, texts, outputs };
}

export function inferHandler(deps: AnswerDeps) {
  return async function infer(c: Context<AppEnv>): Promise<Response> {
    const config = c.get('config');
    const { model, version } = modelParams(c);
    const mode = parseEscalateHeader(c.req.header('x-escalate'));
    const body = await readBody(c, config.maxBodyBytes);
    const type = mediaType(c.req.header('content-type'));
    const binary = c.req.header(HEADER_LENGTH_HEADER) !== undefined;
    const release = releaseAt(deps, model, version);
    if (binary || type !== 'application/json' || release === undefined) return proxy(c, deps, body);
    const text = textInput(await readJson(c));
    if (text === undefined) return proxy(c, deps, body);
    const deadline = requestDeadline(c, config.requestDeadlineMs, deps.now());
    const answer = await answerTexts(c, deps, { model, version, texts: text.texts, mode, deadline });
    if ('passthrough' in answer) {
      return new Response(answer.passthrough.body, {
        status: answer.passthrough.status,
        headers: answer.headers,
      });
    }
    const labels = release.manifest.labels;
    const probabilities: number[] = [];
    for (const p of answer.predictions) for (const l of labels) probabilities.push(p.scores[l] ?? 0);
    const outputs = [
      {
        name: 'probabilities',
        datatype: 'FP32',
        shape: [answer.predictions.length, labels.length],
        data: probabilities,
      },
      {
        name: 'label',
        datatype: 'BYTES',
        shape: [answer.predictions.length],
        data: answer.predictions.map((p) => p.label),
      },
    ];
    const wanted = text.outputs;
    return c.json(
      {
        model_name: model,
        model_version: answer.version,
        ...(text.id === undefined ? {} : { id: text.id }),
        // OIP parameters hold scalars: per-item paths and counts are comma-separated strings.
        parameters: {
          served_by: answer.served_by,
          served_by_items: answer.predictions.map((p) => p.served_by).join(','),
          served_by_counts: answer.headers['x-served-by-counts'] ?? '',
          request_id: c.get('requestId'),
        },
        // Only the outputs asked for, in the order asked; all of them when the request names none.
        outputs:
          wanted === undefined
            ? outputs
            : wanted.map((name) => outputs.find((o) => o.name === name) as (typeof outputs)[number]),
      },
      200,
      answer.headers,
    );
  };
}
