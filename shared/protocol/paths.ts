/**
 * The HTTP paths of the public contract, which the edge and the origin both serve: Open Inference Protocol v2 and
 * the text API. Model routes come in pairs, unpinned and pinned to a version, and are registered together
 * (`app.on(method, PATHS.infer, handler)`), so the two tiers cannot drift apart on a path.
 */
/** A model route: unpinned, then pinned to a version. */
type ModelRoute = [unpinned: string, pinned: string];

export const PATHS: Readonly<{
  live: string;
  ready: string;
  server: string;
  modelMetadata: ModelRoute;
  modelReady: ModelRoute;
  infer: ModelRoute;
  classify: ModelRoute;
  echo: ModelRoute;
}> = {
  live: '/v2/health/live',
  ready: '/v2/health/ready',
  server: '/v2',
  modelMetadata: ['/v2/models/:model', '/v2/models/:model/versions/:version'],
  modelReady: ['/v2/models/:model/ready', '/v2/models/:model/versions/:version/ready'],
  infer: ['/v2/models/:model/infer', '/v2/models/:model/versions/:version/infer'],
  classify: ['/v1/models/:model/classify', '/v1/models/:model/versions/:version/classify'],
  /** The origin's no-inference route (benchmarks), when enabled. */
  echo: ['/v2/models/:model/echo', '/v2/models/:model/versions/:version/echo'],
};
