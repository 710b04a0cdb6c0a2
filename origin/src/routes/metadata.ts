/**
 * OIP v2 metadata: GET /v2 (server), GET /v2/models/{m}[/versions/{v}] (model: versions, tensors, parameters) and
 * GET /v2/models/{m}[/versions/{v}]/ready (model readiness, 200 / 503). Without a version, the latest answers.
 */
import type { Context } from 'hono';
import type { AppEnv } from '../env.ts';
import type { RouteDeps } from './deps.ts';

export const SERVER_NAME = 'edge-origin-inference';
export const SERVER_VERSION = '0.1.0';

export function serverMetadataHandler(c: Context<AppEnv>): Response {
  return c.json({ name: SERVER_NAME, version: SERVER_VERSION, extensions: ['binary_tensor_data'] });
}

export function modelMetadataHandler(deps: Pick<RouteDeps, 'registry'>) {
  return function modelMetadata(c: Context<AppEnv>): Response {
    const registry = deps.registry();
    const name = c.req.param('model') as string;
    return c.json(registry.get(name, c.req.param('version')).metadata(registry.versions(name)));
  };
}

export function modelReadyHandler(deps: Pick<RouteDeps, 'registry' | 'ready'>) {
  return function modelReady(c: Context<AppEnv>): Response {
    const model = deps.registry().get(c.req.param('model') as string, c.req.param('version'));
    const ready = model.ready && deps.ready();
    return c.json({ name: model.name, version: model.version, ready }, ready ? 200 : 503);
  };
}
