/**
 * Module-scope memo tables: one value per key, created on first use and kept for the isolate's lifetime (Upstash
 * clients, origin pools, parsed config). Works with a Map (string keys) or a WeakMap (object keys).
 */

/** The two methods used, so a Map or a WeakMap fits. */
export interface MemoTable<K, V> {
  get(key: K): V | undefined;
  set(key: K, value: V): unknown;
}

/** The table's value for `key`, created by `create(key)` and stored on the first call. */
export function memoize<K, V>(table: MemoTable<K, V>, key: K, create: (key: K) => V): V {
  let value = table.get(key);
  if (value === undefined) {
    value = create(key);
    table.set(key, value);
  }
  return value;
}
