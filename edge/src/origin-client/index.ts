export { type BreakerOptions, type BreakerState, CircuitBreaker } from './breaker.ts';
export { type OriginFailureReason, OriginUnavailableError } from './errors.ts';
export { originHeaders, routeHints, tierPriority } from './headers.ts';
export {
  OriginPool,
  type OriginPoolOptions,
  type OriginRequest,
  type OriginResult,
  type OriginSnapshot,
  type SignFn,
} from './pool.ts';
export { poolFor } from './pools.ts';
export { type PoolConfig, parseRegions, type RegionsConfig, seedRtts } from './regions.ts';
export {
  OriginRouter,
  type OriginRouterOptions,
  type RoutedResult,
  type RouteHints,
  type RouterSnapshot,
} from './router.ts';
