export { type BreakerOptions, type BreakerState, CircuitBreaker } from './breaker.ts';
export { type OriginFailureReason, OriginUnavailableError } from './errors.ts';
export { originHeaders, tierPriority } from './headers.ts';
export {
  OriginPool,
  type OriginPoolOptions,
  type OriginRequest,
  type OriginResult,
  type OriginSnapshot,
  type SignFn,
} from './pool.ts';
export { poolFor } from './pools.ts';
