/**
 * The origin's entry point: `node origin/src/main.ts [--flags]` (npm run start:origin). Reads and validates the
 * configuration, starts the server, and drains on SIGTERM/SIGINT before exiting 0. Exit codes: 0 after a drain,
 * 1 when start-up fails (missing or corrupt artifact, port in use...), 2 for an invalid configuration; a second
 * signal during the drain kills the process at once (SIGKILL).
 */
import { featurizerFromManifest } from '../../shared/featurizer/index.ts';
import { loadConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { createOriginServer, type OriginServer } from './server.ts';

export default async function main(
  argv: readonly string[] = process.argv.slice(2),
  env: Record<string, string | undefined> = process.env,
): Promise<OriginServer | undefined> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(env, argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 2;
    return undefined;
  }
  const logger = createLogger({ level: config.logLevel });
  const server = createOriginServer(config, { logger, featurizerFactory: featurizerFromManifest });

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting without finishing the drain');
      // Not process.exit(): tearing down a worker thread that is inside session.run aborts the process inside
      // onnxruntime-node. SIGKILL ends it at once, as the second signal asks (after the log line is written).
      setTimeout(() => process.kill(process.pid, 'SIGKILL'), 20);
      return;
    }
    logger.info({ signal }, 'draining: not ready, finishing queued and running requests');
    server.stop().then(
      () => {
        logger.info({ signal }, 'drained; exiting');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'drain failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    await server.start();
  } catch (err) {
    if (signals > 0) return server;
    logger.fatal({ err: (err as Error).message }, 'origin failed to start');
    await server.stop().catch(() => {});
    process.exit(1);
  }
  return server;
}

if (import.meta.main) await main();
