/**
 * A bounded map in (approximately) least-recently-used order, for per-isolate caches (tenants/resolver.ts,
 * cache/memory.ts).
 *
 * A hit moves its entry to the young end only when at least half the capacity was inserted since it was last
 * placed there. A V8 Map keeps a deleted entry's slot in its bucket chain until the table is rebuilt, so moving a
 * hot key on every hit (delete + set) makes each lookup of it slower the fuller the map is (measured in workerd:
 * ~24 µs per hit at 10,000 entries, ~0 at 1). Moving at most once per half turnover keeps a hot key's lookups
 * constant, and still never evicts an entry that is hit at least once per `max / 2` insertions.
 */
export class Lru<V> {
  readonly max: number;
  readonly #map = new Map<string, { value: V; seq: number }>();
  readonly #turnover: number;
  /** Insertions so far (the clock entries are aged by). */
  #seq = 0;
  /** Hits that moved their entry (diagnostics; tests pin the bound). */
  moves = 0;

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 0)
      throw new TypeError(`Lru: max must be an integer >= 0, got ${max}`);
    this.max = max;
    this.#turnover = Math.max(1, Math.floor(max / 2));
  }

  get(k: string): V | undefined {
    const e = this.#map.get(k);
    if (e === undefined) return undefined;
    if (this.#seq - e.seq >= this.#turnover) {
      this.#map.delete(k);
      e.seq = this.#seq;
      this.#map.set(k, e);
      this.moves++;
    }
    return e.value;
  }

  set(k: string, value: V): void {
    if (this.max === 0) return;
    this.#map.delete(k);
    this.#map.set(k, { value, seq: ++this.#seq });
    while (this.#map.size > this.max) this.#map.delete(this.#map.keys().next().value as string);
  }

  delete(k: string): void {
    this.#map.delete(k);
  }

  get size(): number {
    return this.#map.size;
  }
}
