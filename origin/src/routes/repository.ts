/**
 * The model repository extension (Triton's shape), for operators: behind adminAuth, never routed by the ingress.
 *
 *   POST /v2/repository/index                  what is served, and what the S3 registry offers (as of its last index
 *                                              read): [{name, version, state: READY | UNAVAILABLE, source, reason?}];
 *                                              body `{"ready": true}` (optional) lists READY entries only
 *   POST /v2/repository/models/{model}/load    reads that model's registry index now, pulls and loads what the
 *                                              version policy selects and is not served (refused releases are tried
 *                                              again), retires what it no longer selects; answers
 *                                              {model, loaded, refused, errors, retired, serving}
 */
import type { Context } from 'hono';
import { InferenceError, InvalidInputError } from '../../../shared/errors/index.ts';
import { parseJsonBody } from '../../../shared/http/index.ts';
import type { AppEnv } from '../env.ts';
import type { RegistryPuller } from '../registry-s3/puller.ts';
import type { RouteDeps } from './deps.ts';
import { requireJson } from './request.ts';

export const REPOSITORY_PATHS = {
  index: '/v2/repository/index',
  load: '/v2/repository/models/:model/load',
} as const;

export interface RepositoryDeps extends Pick<RouteDeps, 'registry'> {
  /** The S3 registry's puller; undefined without a registry. */
  puller(): RegistryPuller | undefined;
}

/** One entry of the index answer (Triton's fields, plus where the version comes from). */
export interface RepositoryEntry {
  name: string;
  version?: string;
  state: 'READY' | 'UNAVAILABLE';
  source: 'repository' | 'registry';
  reason?: string;
}

function readyOnly(c: Context<AppEnv>): boolean {
  const body = c.get('body');
  if (body === undefined || body.byteLength === 0) return false;
  requireJson(c.req.header('content-type'));
  const json = parseJsonBody(body);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new InvalidInputError('the body must be a JSON object, e.g. {"ready": true}');
  }
  const ready = (json as { ready?: unknown }).ready;
  if (ready !== undefined && typeof ready !== 'boolean') {
    throw new InvalidInputError(`ready must be true or false, got ${JSON.stringify(ready)}`);
  }
  return ready === true;
}

export function repositoryIndexHandler(deps: RepositoryDeps) {
  return function repositoryIndex(c: Context<AppEnv>): Response {
    const onlyReady = readyOnly(c);
    const registry = deps.registry();
    const entries: RepositoryEntry[] = [];
    const served = new Set<string>();
    for (const m of registry.list()) {
      served.add(`${m.name}/${m.version}`);
      entries.push({
        name: m.name,
        version: m.version,
        state: m.ready ? 'READY' : 'UNAVAILABLE',
        source: registry.sourceOf(m),
        ...(m.ready ? {} : { reason: 'not ready (warming up, or its workers are gone)' }),
      });
    }
    for (const offer of deps.puller()?.offered() ?? []) {
      if (offer.indexError !== undefined) {
        entries.push({
          name: offer.model,
          state: 'UNAVAILABLE',
          source: 'registry',
          reason: `the registry index could not be read: ${offer.indexError}`,
        });
      }
      for (const v of offer.versions) {
        if (served.has(`${offer.model}/${v.version}`)) continue;
        entries.push({
          name: offer.model,
          version: v.version,
          state: 'UNAVAILABLE',
          source: 'registry',
          reason:
            v.refused !== undefined
              ? `refused: ${v.refused}`
              : v.error !== undefined
                ? `pull failed (retried at the next poll): ${v.error}`
                : 'not selected by MODEL_VERSION_POLICY',
        });
      }
    }
    return c.json(onlyReady ? entries.filter((e) => e.state === 'READY') : entries);
  };
}

export function repositoryLoadHandler(deps: RepositoryDeps) {
  return async function repositoryLoad(c: Context<AppEnv>): Promise<Response> {
    const model = c.req.param('model') as string;
    deps.registry(); // 503 not_ready while the origin is still loading
    const puller = deps.puller();
    if (puller === undefined) {
      throw new InferenceError(
        'model_not_found',
        `no model registry is configured (MODEL_REGISTRY_S3_ENDPOINT): '${model}' cannot be loaded from it`,
      );
    }
    if (!puller.follows(model)) {
      throw new InferenceError(
        'model_not_found',
        `model '${model}' is not followed (MODEL_REGISTRY_MODELS: ${puller.models.join(', ')})`,
      );
    }
    const result = await puller.sync(model, { retryRefused: true });
    const indexError = result.errors.find((e) => e.version === undefined);
    if (indexError !== undefined) {
      throw new InferenceError(
        'bad_gateway',
        `the registry index of '${model}' could not be read: ${indexError.reason}`,
      );
    }
    return c.json(result);
  };
}
