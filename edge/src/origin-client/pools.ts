/**
 * One origin router per isolate per configuration, kept at module scope so in-flight counts, reported queue depths,
 * learned RTTs, budgets and breaker state outlive a request. Created lazily on first use; nothing runs at import
 * time. `overrides` (tests: clock, random, budgets) apply when the router for a configuration is first created.
 */
import { signRequest } from '../../../shared/signing/index.ts';
import type { EdgeConfig } from '../config.ts';
import { memoize } from '../lib/memo.ts';
import { OriginRouter, type OriginRouterOptions } from './router.ts';

const routers = new Map<string, OriginRouter>();

export function poolFor(config: EdgeConfig, overrides: Partial<OriginRouterOptions> = {}): OriginRouter {
  const id = [
    JSON.stringify(config.regions.pools),
    JSON.stringify([
      ...config.regions.nearby.colos,
      ...config.regions.nearby.countries,
      ...config.regions.nearby.continents,
      config.regions.nearby.default,
    ]),
    config.originTimeoutMs,
    config.breakerFailureThreshold,
    config.breakerCooldownMs,
    config.signingSecret,
    config.originHedgeShare,
  ].join('\n');
  return memoize(routers, id, () => {
    const secret = config.signingSecret;
    return new OriginRouter({
      regions: config.regions,
      attemptTimeoutMs: config.originTimeoutMs,
      failureThreshold: config.breakerFailureThreshold,
      cooldownMs: config.breakerCooldownMs,
      hedgeShare: config.originHedgeShare,
      sign: secret === '' ? undefined : async (req) => ({ ...(await signRequest({ secret, ...req })) }),
      ...overrides,
    });
  });
}
