/** OIP v2 health, server and model metadata, model readiness, and /metrics. */
import type { Hono } from 'hono';
import type { AppEnv } from '../http.ts';
import type { RouteDeps } from './deps.ts';

export const SERVER_NAME = 'edge-origin-inference';
export const SERVER_VERSION = '0.1.0';

export function healthRoutes(app: Hono<AppEnv>, deps: RouteDeps): void {
  app.get('/v2/health/live', (c) => c.json({ live: true }));
  app.get('/v2/health/ready', (c) => {
    const ready = deps.ready();
    return c.json({ ready }, ready ? 200 : 503);
  });
  app.get('/v2', (c) =>
    c.json({ name: SERVER_NAME, version: SERVER_VERSION, extensions: ['binary_tensor_data'] }),
  );

  const metadata = (name: string, version?: string) => {
    const registry = deps.registry();
    return registry.get(name, version).metadata(registry.versions(name));
  };
  app.get('/v2/models/:model', (c) => c.json(metadata(c.req.param('model'))));
  app.get('/v2/models/:model/versions/:version', (c) =>
    c.json(metadata(c.req.param('model'), c.req.param('version'))),
  );

  const readiness = (name: string, version?: string) => {
    const model = deps.registry().get(name, version);
    const ready = model.ready && deps.ready();
    return {
      body: { name: model.name, version: model.version, ready },
      status: ready ? (200 as const) : (503 as const),
    };
  };
  app.get('/v2/models/:model/ready', (c) => {
    const r = readiness(c.req.param('model'));
    return c.json(r.body, r.status);
  });
  app.get('/v2/models/:model/versions/:version/ready', (c) => {
    const r = readiness(c.req.param('model'), c.req.param('version'));
    return c.json(r.body, r.status);
  });

  app.get('/metrics', async (c) => {
    const text = await deps.metrics.registry.metrics();
    return c.body(text, 200, { 'content-type': deps.metrics.registry.contentType });
  });
}
