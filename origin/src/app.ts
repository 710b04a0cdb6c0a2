/**
 * The origin app: Hono on @hono/node-server. Builds the app and does no I/O (server.ts listens and drains).
 *
 *   request context (id, trace, in-flight, access log) -> [signature headers (POST)] -> [admin auth
 *     (/v2/repository/*)] -> body (POST) -> [edge signature over the body (POST)] -> route
 *
 * GET routes (health, metadata, metrics) are open for probes and scrapers; every POST must be signed by the edge
 * unless unsigned use is allowed, except the operator's repository calls, which take the admin bearer token. Exactly one `onError` turns every error into the shared JSON body
 * `{error: {code, message, request_id}}`; unknown routes are 404 `not_found`.
 */
import { Hono } from 'hono';
import { errorBody, InferenceError } from '../../shared/errors/index.ts';
import { PATHS } from '../../shared/protocol/paths.ts';
import type { AppEnv } from './env.ts';
import { adminAuth } from './middleware/admin-auth/index.ts';
import { readBody } from './middleware/body/index.ts';
import { edgeSignature, signatureHeaders } from './middleware/edge-signature/index.ts';
import { baseHeaders, requestContext } from './middleware/request-context/index.ts';
import { classifyHandler } from './routes/classify.ts';
import type { RouteDeps } from './routes/deps.ts';
import { liveHandler, readyHandler } from './routes/health.ts';
import { echoHandler, inferHandler } from './routes/infer.ts';
import { modelMetadataHandler, modelReadyHandler, serverMetadataHandler } from './routes/metadata.ts';
import { metricsHandler } from './routes/metrics.ts';
import { openapiHandler } from './routes/openapi.ts';
import {
  REPOSITORY_PATHS,
  type RepositoryDeps,
  repositoryIndexHandler,
  repositoryLoadHandler,
} from './routes/repository.ts';

export interface AppDeps extends RouteDeps, Partial<Pick<RepositoryDeps, 'puller'>> {
  /** True while the server drains: answers carry `connection: close`. */
  draining(): boolean;
  /** Called when a request starts and when its handler has finished (the server's in-flight count). */
  onStart(): void;
  onEnd(): void;
}

export function createApp(deps: AppDeps): Hono<AppEnv> {
  const { config, logger } = deps;
  const app = new Hono<AppEnv>();
  app.use(
    '*',
    requestContext({
      draining: deps.draining,
      onStart: deps.onStart,
      onEnd: deps.onEnd,
      logger,
      ...(config.poolId === undefined ? {} : { poolId: config.poolId }),
    }),
  );
  // Signature headers are checked before the body is read, the signature over the body after.
  if (!config.allowUnsigned) app.use('*', signatureHeaders({ windowMs: config.signatureWindowMs }));
  app.use('/v2/repository/*', adminAuth({ token: config.adminToken, open: config.allowUnsigned }));
  const body = readBody(config.maxBodyBytes);
  app.use('*', (c, next) => (c.req.method === 'POST' ? body(c, next) : next()));
  if (!config.allowUnsigned) {
    app.use('*', edgeSignature({ secret: config.signingSecret, windowMs: config.signatureWindowMs }));
  }

  app.get(PATHS.live, liveHandler(deps));
  app.get(PATHS.ready, readyHandler(deps));
  app.get(PATHS.server, serverMetadataHandler);
  app.on('GET', PATHS.modelMetadata, modelMetadataHandler(deps));
  app.on('GET', PATHS.modelReady, modelReadyHandler(deps));
  app.get('/metrics', metricsHandler(deps.metrics));
  app.get('/openapi.json', openapiHandler);
  app.on('POST', PATHS.infer, inferHandler(deps));
  if (config.echoRoute) app.on('POST', PATHS.echo, echoHandler(deps));
  app.on('POST', PATHS.classify, classifyHandler(deps));
  const repository: RepositoryDeps = { registry: deps.registry, puller: deps.puller ?? (() => undefined) };
  app.post(REPOSITORY_PATHS.index, repositoryIndexHandler(repository));
  app.post(REPOSITORY_PATHS.load, repositoryLoadHandler(repository));

  app.notFound((c) => {
    const err = new InferenceError('not_found', `no route for ${c.req.method} ${c.req.path}`);
    return c.json(err.toBody(c.get('requestId') ?? 'unknown'), 404);
  });
  app.onError((err, c) => {
    const requestId = c.get('requestId') ?? 'unknown';
    const { status, body: payload, headers } = errorBody(err, requestId);
    const fields = {
      request_id: requestId,
      trace_id: c.get('traceId'),
      path: c.req.path,
      status,
      code: payload.error.code,
    };
    if (status >= 500 && status !== 503 && status !== 504)
      logger.error({ ...fields, err }, payload.error.message);
    else logger.info(fields, payload.error.message);
    return new Response(JSON.stringify(payload), {
      status,
      headers: {
        ...baseHeaders(c),
        'content-type': 'application/json',
        ...c.get('errorHeaders'),
        ...headers,
      },
    });
  });
  return app;
}
