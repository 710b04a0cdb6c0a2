/**
 * CLI: `node infra/upstash-bridge/main.ts` serves the Upstash REST protocol in front of a redis-server.
 *
 *   REDIS_URL              redis-server to serve            (default redis://127.0.0.1:6379)
 *   UPSTASH_BRIDGE_TOKEN   Bearer token clients must send   (default: a random one, printed)
 *   UPSTASH_BRIDGE_PORT    port to listen on, 0 = free one  (default 8079)
 *   UPSTASH_BRIDGE_HOST    interface to listen on           (default 127.0.0.1)
 *
 * Prints `UPSTASH_REDIS_REST_URL=...` and `UPSTASH_REDIS_REST_TOKEN=...` lines; stops cleanly on SIGINT/SIGTERM.
 */
import { randomBytes } from 'node:crypto';
import { startUpstashBridge, type UpstashBridgeOptions } from './server.ts';

/** Reads the bridge's options from an environment (pure: pass `process.env`). */
export function bridgeOptionsFromEnv(env: Record<string, string | undefined>): UpstashBridgeOptions & {
  tokenGenerated: boolean;
} {
  const portText = env.UPSTASH_BRIDGE_PORT ?? '8079';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) {
    throw new TypeError(`UPSTASH_BRIDGE_PORT must be an integer in [0, 65535], got ${portText}`);
  }
  const given = env.UPSTASH_BRIDGE_TOKEN;
  const token = given !== undefined && given.length > 0 ? given : randomBytes(24).toString('base64url');
  return {
    redisUrl: env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    token,
    tokenGenerated: token !== given,
    port,
    host: env.UPSTASH_BRIDGE_HOST ?? '127.0.0.1',
  };
}

async function main(): Promise<void> {
  const { tokenGenerated, ...options } = bridgeOptionsFromEnv(process.env);
  const bridge = await startUpstashBridge({
    ...options,
    onRedisError: (err) => console.error(`upstash-bridge: redis: ${err.message}`),
  });
  console.log(`UPSTASH_REDIS_REST_URL=${bridge.url}`);
  console.log(`UPSTASH_REDIS_REST_TOKEN=${bridge.token}`);
  if (tokenGenerated)
    console.error('upstash-bridge: token generated; set UPSTASH_BRIDGE_TOKEN to choose one');
  const stop = () => {
    bridge.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    console.error(`upstash-bridge: ${(err as Error).message}`);
    process.exit(1);
  });
}
