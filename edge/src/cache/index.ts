export { MemoryCache, type MemoryCacheOptions } from './memory.ts';
export {
  type CacheTier,
  type L1Cache,
  type L2Store,
  ResultCache,
  type ResultCacheOptions,
} from './result-cache.ts';
