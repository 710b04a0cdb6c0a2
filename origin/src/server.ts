/**
 * The origin server's lifecycle. createOriginServer(config) builds the app (app.ts) and does no I/O; start()
 * listens, loads and warms up the models and resolves with the URL once ready; stop() drains: it stops accepting,
 * turns not-ready, finishes every queued and running request, then closes connections and workers.
 *
 * With an S3 model registry (config.registryEndpoint), start() loads the disk repository (which may then be empty
 * or absent), pulls every followed model's releases once (registry-s3/puller.ts), and only then resolves; the
 * puller then polls. The server is ready once that first pull ended and at least one version is served; while
 * none is, it stays not ready and keeps polling.
 */
import type { AddressInfo } from 'node:net';
import { createAdaptorServer, type ServerType } from '@hono/node-server';
import type { Hono } from 'hono';
import { OverloadedError } from '../../shared/errors/index.ts';
import { withTimeout } from '../../shared/timeout/index.ts';
import { createApp } from './app.ts';
import type { Clock } from './batcher.ts';
import { defineConfig, type OriginConfig, type OriginConfigInput } from './config.ts';
import type { AppEnv } from './env.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics, type OriginMetrics } from './metrics.ts';
import { type FeaturizerFactory, ModelRegistry } from './registry.ts';
import { createS3Client, type ObjectStore } from './registry-s3/client.ts';
import { RegistryPuller } from './registry-s3/puller.ts';

export interface OriginServerDeps {
  /** @default a pino logger at config.logLevel on stdout */
  logger?: Logger;
  /** @default a fresh registry with default process metrics */
  metrics?: OriginMetrics;
  /** Builds the featurizer a manifest names; without it, models with a featurizer fail to load. */
  featurizerFactory?: FeaturizerFactory;
  /** Batcher clock. @default systemClock */
  clock?: Clock;
  /** The registry's object store. @default an S3 client on config.registryEndpoint (when set) */
  registryStore?: Pick<ObjectStore, 'get'>;
}

export interface OriginServer {
  readonly app: Hono<AppEnv>;
  readonly config: OriginConfig;
  /** http://host:port once listening. */
  readonly url: string | undefined;
  readonly registry: ModelRegistry | undefined;
  /** The S3 registry's puller (undefined without a registry, and until the disk repository is loaded). */
  readonly puller: RegistryPuller | undefined;
  /** Listens, loads and warms up every model; resolves with the URL when ready, rejects (and closes) on failure. */
  start(): Promise<string>;
  /** Graceful drain, then close; idempotent. */
  stop(): Promise<void>;
  /** Models loaded and warmed up, and not draining. */
  ready(): boolean;
}

function urlOf(address: AddressInfo): string {
  const host =
    address.address === '0.0.0.0'
      ? '127.0.0.1'
      : address.address === '::'
        ? '[::1]'
        : address.family === 'IPv6'
          ? `[${address.address}]`
          : address.address;
  return `http://${host}:${address.port}`;
}

export function createOriginServer(config: OriginConfig, deps: OriginServerDeps = {}): OriginServer {
  const logger = deps.logger ?? createLogger({ level: config.logLevel });
  const metrics = deps.metrics ?? createMetrics();
  /** Serving: set once start-up loading (disk, then the first registry pull) is over. */
  let registry: ModelRegistry | undefined;
  /** Loaded from disk, before the first registry pull ends (what stop() must close if it comes first). */
  let loaded: ModelRegistry | undefined;
  let puller: RegistryPuller | undefined;
  let draining = false;
  let http: ServerType | undefined;
  let url: string | undefined;
  let inflight = 0;
  let stopping: Promise<void> | undefined;
  let loading: Promise<ModelRegistry> | undefined;

  const ready = () => registry !== undefined && !draining && registry.list().length > 0 && registry.ready;
  metrics.setSource({
    models: () =>
      (registry?.list() ?? []).map((m) => ({
        name: m.name,
        version: m.version,
        pendingRows: m.queueDepth,
        ready: m.ready && !draining,
      })),
  });

  const app = createApp({
    config,
    logger,
    metrics,
    ready,
    unserviceable: () => registry?.unserviceable() ?? [],
    registry() {
      if (registry === undefined) throw new OverloadedError('not_ready', 'models are still loading', 1);
      return registry;
    },
    puller: () => puller,
    draining: () => draining,
    onStart: () => {
      inflight++;
    },
    onEnd: () => {
      inflight--;
    },
  });

  let httpClosed: Promise<void> | undefined;

  /** Stops accepting connections (once) and closes idle keep-alive ones. */
  function beginClose(): Promise<void> {
    const server = http;
    if (server === undefined) return Promise.resolve();
    httpClosed ??= new Promise<void>((resolve) => server.close(() => resolve()));
    if ('closeIdleConnections' in server) server.closeIdleConnections();
    return httpClosed;
  }

  /** Waits for in-flight requests (up to graceMs), then closes what is left. */
  async function finishClose(graceMs: number): Promise<void> {
    const server = http;
    if (server === undefined) return;
    const closed = beginClose();
    const deadline = Date.now() + graceMs;
    while (inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    if ('closeIdleConnections' in server) server.closeIdleConnections();
    const force = setTimeout(() => {
      if ('closeAllConnections' in server) server.closeAllConnections();
    }, 200);
    await closed;
    clearTimeout(force);
  }

  return {
    app,
    config,
    get url() {
      return url;
    },
    get registry() {
      return registry;
    },
    get puller() {
      return puller;
    },
    ready,
    async start() {
      if (http !== undefined) throw new Error('the origin server was already started');
      if (config.allowUnsigned) {
        logger.warn(
          { setting: 'ORIGIN_ALLOW_UNSIGNED' },
          '!!! REQUEST SIGNATURES ARE NOT CHECKED: any caller can run inference. Local use only; never in production. !!!',
        );
      }
      const server = createAdaptorServer({ fetch: app.fetch, hostname: config.host, port: config.port });
      http = server;
      if ('keepAliveTimeout' in server) {
        server.keepAliveTimeout = 65_000;
        server.headersTimeout = 66_000;
      }
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      url = urlOf(server.address() as AddressInfo);
      logger.info(
        {
          url,
          repository: config.modelRepository,
          ...(config.registryEndpoint === undefined
            ? {}
            : {
                registry: `${config.registryEndpoint}/${config.registryBucket}`,
                registry_models: config.registryModels,
              }),
        },
        'listening; loading models',
      );
      try {
        loading = loadModels();
        registry = await loading;
      } catch (err) {
        await finishClose(0);
        throw err;
      }
      if (draining) throw new Error('the origin server was stopped while loading models');
      puller?.start();
      const models = registry.list().map((m) => `${m.name}:${m.version}`);
      if (models.length === 0) {
        logger.warn(
          { url, registry_models: config.registryModels },
          'no model served yet: not ready; polling the registry',
        );
      } else logger.info({ url, models }, 'ready');
      return url;
    },
    stop() {
      stopping ??= (async () => {
        draining = true;
        await puller?.stop();
        await loading?.catch(() => {});
        const r = registry ?? loaded;
        r?.close();
        void beginClose();
        if (r !== undefined && (await withTimeout(r.drain(), config.drainTimeoutMs)).kind === 'timeout') {
          // Bounded: what is still running or queued is cut; dispose() fails it with 503, never leaves it hanging.
          logger.warn(
            {
              drain_timeout_ms: config.drainTimeoutMs,
              in_flight_requests: inflight,
              models: r.list().map((m) => ({ model: `${m.name}:${m.version}`, queued_rows: m.queueDepth })),
            },
            'drain timed out; cutting the work left',
          );
        }
        await r?.dispose();
        await finishClose(10_000);
      })();
      return stopping;
    },
  };

  /** The disk repository, then (with a registry) the first pull of every followed model. */
  async function loadModels(): Promise<ModelRegistry> {
    const withRegistry = config.registryEndpoint !== undefined;
    const disk = await ModelRegistry.load({
      repository: config.modelRepository,
      partialRepository: withRegistry,
      versionPolicy: config.versionPolicy,
      executionProvider: config.executionProvider,
      intraOpThreads: config.intraOpThreads,
      batching: {
        maxBatch: config.maxBatch,
        preferredBatch: config.preferredBatch,
        maxQueueDelayMs: config.maxQueueDelayMs,
        maxQueue: config.maxQueue,
        priorityLevels: config.priorityLevels,
        defaultPriority: config.defaultPriority,
        workers: config.workersPerModel,
      },
      featurizing: { workers: config.featurizeWorkers, inlineChars: config.featurizeInlineChars },
      workerRestarts: { max: config.maxWorkerRestarts, windowMs: config.workerRestartWindowMs },
      // In flight counts the request being run itself: 1 means it is alone.
      inline: { maxMs: config.inlineMaxMs, alone: () => inflight <= 1 },
      metrics,
      logger,
      ...(deps.featurizerFactory === undefined ? {} : { featurizerFactory: deps.featurizerFactory }),
      ...(deps.clock === undefined ? {} : { clock: deps.clock }),
    });
    loaded = disk;
    if (!withRegistry) return disk;
    const store =
      deps.registryStore ??
      createS3Client({
        endpoint: config.registryEndpoint as string,
        bucket: config.registryBucket,
        region: config.registryRegion,
        accessKeyId: config.registryAccessKeyId as string,
        secretAccessKey: config.registrySecretAccessKey as string,
        timeoutMs: 120_000,
      });
    puller = new RegistryPuller({
      store,
      models: config.registryModels,
      cacheDir: config.registryCacheDir,
      versionPolicy: config.versionPolicy,
      target: disk,
      logger,
      metrics,
      pollMs: config.registryPollSeconds * 1000,
      drainTimeoutMs: config.drainTimeoutMs,
    });
    if (draining) return disk;
    await puller.syncAll();
    return disk;
  }
}

/**
 * Starts an origin on loopback (port 0 by default) for tests and tools; unsigned unless a secret is given.
 * Resolves once ready with the server and its URL.
 */
export async function startOriginServer(
  input: OriginConfigInput & { modelRepository: string },
  deps: OriginServerDeps = {},
): Promise<{ server: OriginServer; url: string }> {
  const config = defineConfig({
    host: '127.0.0.1',
    port: 0,
    logLevel: 'silent',
    ...(input.signingSecret === undefined ? { allowUnsigned: true } : {}),
    ...input,
  });
  const server = createOriginServer(config, deps);
  const url = await server.start();
  return { server, url };
}
