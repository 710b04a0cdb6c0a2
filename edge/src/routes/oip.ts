/**
 * Open Inference Protocol v2 at the edge. Health and server metadata are answered here. Model metadata, readiness
 * and infer are answered here when the model's release is at the edge and (for infer) the request speaks its
 * public signature: a text release's (one BYTES input `text`; shared/protocol textSignature) or a tensor release's
 * (its inputs and cascade output; shared/protocol tensorSignature, validated with the origin's own `prepare`), JSON
 * or the binary extension. Everything else (a text model's raw ids, outputs only the teacher has, other models and
 * versions) is proxied to the origin pool, signed, with the request's deadline.
 */
import type { Context } from 'hono';
import { InferenceError } from '../../../shared/errors/index.ts';
import { mediaType, parseJsonBody } from '../../../shared/http/index.ts';
import { sortReleases } from '../../../shared/manifest/index.ts';
import {
  decodeInferRequest,
  encodeInferResponse,
  inferRequestHeader,
  parseHeaderLength,
  selectOutputs,
} from '../../../shared/protocol/codec.ts';
import { HEADER_LENGTH_HEADER, type InferRequest, type InferResponse } from '../../../shared/protocol/oip.ts';
import {
  outputFromPredictions,
  type TensorModelSignature,
  tensorSignature,
} from '../../../shared/protocol/tensor.ts';
import { oodParameters, textOutputs, textSignature, textsOfRequest } from '../../../shared/protocol/text.ts';
import { prepare } from '../../../shared/protocol/validate.ts';
import {
  type Answer,
  type AnswerDeps,
  answerRows,
  answerTexts,
  parseEscalateHeader,
} from '../cascade/index.ts';
import { type EdgeRelease, isTensorRelease, loadEdgeModel, releaseFor } from '../model/edge-model.ts';
import { originHeaders, routeHints, tierPriority } from '../origin-client/index.ts';
import type { AppEnv } from '../types.ts';
import { modelParams, readBody, readJson, requestDeadline, requestWeight } from './request.ts';

export const SERVER_NAME = 'spam-edge';
export const SERVER_VERSION = '0.1.0';

function releaseAt(deps: AnswerDeps, model: string, version: string | undefined): EdgeRelease | undefined {
  return releaseFor(deps.releases(), model, version);
}

/** Every embedded version of a model, oldest first. */
function embeddedVersions(deps: AnswerDeps, model: string): string[] {
  return sortReleases(deps.releases().filter((r) => r.manifest.name === model)).map(
    (r) => r.manifest.version,
  );
}

/**
 * Where this edge's versions come from: `embedded_versions` (the bundle), `registry_versions` (published in the model
 * registry, as last read by this isolate) and `registry_loaded` (registry versions with a session in this isolate).
 */
function registryParameters(deps: AnswerDeps, model: string): Record<string, string[]> {
  const r = deps.registryVersions?.(model);
  return {
    embedded_versions: embeddedVersions(deps, model),
    ...(r === undefined ? {} : { registry_versions: r.published, registry_loaded: r.loaded }),
  };
}

const signatures = new WeakMap<EdgeRelease, TensorModelSignature | undefined>();

/** A tensor release's public signature (memoised); undefined for text releases and unservable manifests. */
function tensorSignatureOf(release: EdgeRelease): TensorModelSignature | undefined {
  if (!signatures.has(release)) {
    let signature: TensorModelSignature | undefined;
    try {
      signature = isTensorRelease(release) ? tensorSignature(release.manifest) : undefined;
    } catch {
      signature = undefined; // the edge model refuses to load it too; the origin answers
    }
    signatures.set(release, signature);
  }
  return signatures.get(release);
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
  const result = await deps.pool(c).send(
    {
      method: c.req.method,
      path: url.pathname + url.search,
      body,
      headers,
      deadline,
      priority: tierPriority(c),
    },
    routeHints(c),
  );
  const log = c.get('log');
  log.served_by = 'proxy';
  log.origin = result.origin;
  log.origin_pool = result.pool;
  log.origin_attempts = result.attempts;
  log.origin_compute_ms = result.computeMs;
  // Inference passed through: its rows, for usage (the limiter read the same body).
  if (body !== undefined && c.req.method === 'POST') log.items = await requestWeight(c);
  const out = new Headers();
  for (const name of ['content-type', HEADER_LENGTH_HEADER, 'x-model-version']) {
    const v = result.response.headers.get(name);
    if (v !== null) out.set(name, v);
  }
  out.set('x-served-by', 'origin');
  out.set('x-origin-pool', result.pool);
  return new Response(result.response.body, { status: result.response.status, headers: out });
}

export function modelMetadataHandler(deps: AnswerDeps) {
  return async function modelMetadata(c: Context<AppEnv>): Promise<Response> {
    const { model, version } = modelParams(c);
    const release = releaseAt(deps, model, version);
    if (release === undefined) return proxy(c, deps, undefined);
    const m = release.manifest;
    const tensor = tensorSignatureOf(release);
    if (tensor !== undefined) {
      return c.json(
        {
          name: m.name,
          versions: embeddedVersions(deps, m.name),
          platform: 'onnxruntime-web',
          inputs: tensor.inputs,
          outputs: tensor.outputs,
          parameters: {
            version: m.version,
            labels: m.labels,
            threshold: m.threshold ?? 0.5,
            text_route: false,
            cascade_output: tensor.cascade.spec.name,
            cascade_output_kind: tensor.cascade.kind,
            ...registryParameters(deps, m.name),
            served_at: 'edge',
          },
        },
        200,
        { 'x-served-by': 'edge', 'x-model-version': m.version },
      );
    }
    // The origin's signature for the same model (shared/protocol textSignature): one name, one signature.
    const { inputs, outputs } = textSignature(m.labels);
    const raw = m.artifacts[m.serving.origin]?.inputs ?? [];
    return c.json(
      {
        name: m.name,
        versions: embeddedVersions(deps, m.name),
        platform: 'onnxruntime-web',
        inputs,
        outputs,
        parameters: {
          version: m.version,
          labels: m.labels,
          threshold: m.threshold ?? 0.5,
          text_route: true,
          ...(raw.length > 0 ? { raw_inputs: raw } : {}),
          ...(m.ood === undefined ? {} : { ood: m.ood }),
          ...registryParameters(deps, m.name),
          // The decision rule (shared/decision): the labels answered; clients wanting their own cutoffs read scores.
          ...(m.decision === undefined ? {} : { decision: m.decision }),
          served_at: 'edge',
        },
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

/**
 * The JSON header of an OIP request (the whole body when not binary), parsed once; undefined when it cannot be read
 * (the codec then names the problem) or the body is not JSON nor the binary extension (proxied: the origin's 415).
 */
async function inferHeader(c: Context<AppEnv>, body: Uint8Array): Promise<{ value: unknown } | undefined> {
  const headerLength = c.req.header(HEADER_LENGTH_HEADER);
  if (headerLength === undefined) {
    if (mediaType(c.req.header('content-type')) !== 'application/json') return undefined;
    return { value: await readJson(c) };
  }
  const n = parseHeaderLength(headerLength, body.length) as number;
  return { value: parseJsonBody(body.subarray(0, n)) };
}

/** A request speaking the text signature: some input is BYTES (the rest of the checks are textsOfRequest's). */
function looksLikeText(header: unknown): boolean {
  const inputs = (header as { inputs?: unknown } | null)?.inputs;
  return (
    Array.isArray(inputs) && inputs.some((i) => (i as { datatype?: unknown } | null)?.datatype === 'BYTES')
  );
}

export function inferHandler(deps: AnswerDeps) {
  return async function infer(c: Context<AppEnv>): Promise<Response> {
    const config = c.get('config');
    const { model, version } = modelParams(c);
    const mode = parseEscalateHeader(c.req.header('x-escalate'));
    const body = await readBody(c, config.maxBodyBytes);
    const release = releaseAt(deps, model, version);
    if (release === undefined) return proxy(c, deps, body);
    // Requests in the release's public signature, JSON or binary, are answered here; the rest go to the origin.
    const header = await inferHeader(c, body);
    if (header === undefined) return proxy(c, deps, body);
    // A malformed header is the client's 400 here, not a round trip to the origin.
    const parsedHeader = inferRequestHeader(header.value);
    const deadline = requestDeadline(c, config.requestDeadlineMs, deps.now());
    const tensor = tensorSignatureOf(release);
    if (tensor !== undefined) {
      // Outputs only the teacher has (the edge serves the cascade output) are the origin's to answer.
      if (parsedHeader.outputs?.some((o) => o.name !== tensor.cascade.spec.name)) return proxy(c, deps, body);
      const request = decodeInferRequest(body, {
        headerLength: c.req.header(HEADER_LENGTH_HEADER),
        json: header,
      });
      // The origin's validation, the origin's messages: wrong names, datatypes, shapes, row counts are 400s here.
      const rows = prepare(tensor, request);
      const answer = await answerRows(c, deps, { model, version, mode, deadline }, rows, tensor);
      if ('passthrough' in answer) return passthrough(answer);
      const labels = release.manifest.labels;
      const output = outputFromPredictions(answer.predictions, tensor.cascade, labels);
      return inferResponse(c, model, request, answer, selectOutputs(model, [output], request));
    }
    if (!looksLikeText(parsedHeader)) return proxy(c, deps, body);
    const request = decodeInferRequest(body, {
      headerLength: c.req.header(HEADER_LENGTH_HEADER),
      json: header,
    });
    const texts = textsOfRequest(model, request.inputs);
    const labels = release.manifest.labels;
    // Checked before any work: an unknown output is the client's 400.
    selectOutputs(model, textSignature(labels).outputs, request);
    const answer = await answerTexts(c, deps, { model, version, texts, mode, deadline });
    if ('passthrough' in answer) return passthrough(answer);
    const probabilities = new Float32Array(answer.predictions.length * labels.length);
    answer.predictions.forEach((p, r) => {
      labels.forEach((l, j) => {
        probabilities[r * labels.length + j] = p.scores[l] ?? 0;
      });
    });
    // Only the outputs asked for, in the order asked (binary where asked); all of them when none are named.
    return inferResponse(
      c,
      model,
      request,
      answer,
      selectOutputs(
        model,
        textOutputs(
          probabilities,
          labels,
          answer.predictions.map((p) => p.label),
        ),
        request,
      ),
    );
  };
}

function passthrough(answer: { passthrough: Response; headers: Record<string, string> }): Response {
  return new Response(answer.passthrough.body, {
    status: answer.passthrough.status,
    headers: answer.headers,
  });
}

/** The OIP answer: outputs, and how each item was served in `parameters` (scalars: comma-separated strings). */
function inferResponse(
  c: Context<AppEnv>,
  model: string,
  request: InferRequest,
  answer: Answer,
  outputs: InferResponse['outputs'],
): Response {
  const encoded = encodeInferResponse({
    model_name: model,
    model_version: answer.version,
    ...(request.id === undefined ? {} : { id: request.id }),
    parameters: {
      served_by: answer.served_by,
      served_by_items: answer.predictions.map((p) => p.served_by).join(','),
      served_by_counts: answer.headers['x-served-by-counts'] ?? '',
      // Which origin pool answered each escalated row ('' for rows the edge or the cache answered).
      ...(answer.predictions.some((p) => p.origin_pool !== undefined)
        ? { origin_pool_items: answer.predictions.map((p) => p.origin_pool ?? '').join(',') }
        : {}),
      ...oodParameters(answer.predictions),
      request_id: c.get('requestId'),
    },
    outputs,
  });
  const headers: Record<string, string> = { ...answer.headers, 'content-type': encoded.contentType };
  if (encoded.headerLength !== undefined) headers[HEADER_LENGTH_HEADER] = String(encoded.headerLength);
  return new Response(encoded.body as Uint8Array<ArrayBuffer> | string, { status: 200, headers });
}
