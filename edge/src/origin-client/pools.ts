/**
 * One origin pool per isolate per configuration, kept at module scope so in-flight counts, reported queue depths
 * and breaker state outlive a request. Created lazily on first use; nothing runs at import time. `overrides`
 * (tests: clock, random) apply when the pool for a configuration is first created.
 */
import { signRequest } from '../../../shared/signing/index.ts';
import type { EdgeConfig } from '../config.ts';
import { memoize } from '../lib/memo.ts';
import { OriginPool, type OriginPoolOptions } from './pool.ts';

const pools = new Map<string, OriginPool>();

export function poolFor(config: EdgeConfig, overrides: Partial<OriginPoolOptions> = {}): OriginPool {
  const id = [
    config.originUrls.join(','),
    config.originTimeoutMs,
    config.breakerFailureThreshold,
    config.breakerCooldownMs,
    config.signingSecret,
  ].join('\n');
  return memoize(pools, id, () => {
    const secret = config.signingSecret;
    return new OriginPool({
      urls: config.originUrls,
      attemptTimeoutMs: config.originTimeoutMs,
      failureThreshold: config.breakerFailureThreshold,
      cooldownMs: config.breakerCooldownMs,
      sign: secret === '' ? undefined : async (req) => ({ ...(await signRequest({ secret, ...req })) }),
      ...overrides,
    });
  });
}
