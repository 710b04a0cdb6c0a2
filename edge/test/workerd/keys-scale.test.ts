/**
 * Auth cost does not grow with the number of keys: 100,000 keys bulk-seeded into the local D1 (multi-row INSERTs,
 * not the admin API), then a key is resolved with the same binding calls as in a table of a few, and the lookup's
 * query plan searches by primary key (never a scan). CPU per request is measured by `npm run bench:keys`, not here.
 */
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../../shared/hash/index.ts';
import { FIND_SECRET } from '../../src/tenants/store.ts';
import { classifyRequest, unique } from './harness.ts';
import { world } from './tenant-world.ts';

const SEEDED = 100_000;
const ROWS_PER_INSERT = 500;

/** `n` random hex characters. */
function hex(n: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(Math.ceil(n / 2)));
  return [...bytes]
    .map((b) => b.toString(16).padStart(2, '0'))
    .join('')
    .slice(0, n);
}

/** Seeds `count` keys of one tenant straight into D1 (their secrets are random hashes nobody holds). */
async function seed(db: D1Database, tenant: string, count: number): Promise<void> {
  const now = Date.now();
  const statements: D1PreparedStatement[] = [];
  for (let i = 0; i < count; i += ROWS_PER_INSERT) {
    const n = Math.min(ROWS_PER_INSERT, count - i);
    const ids = Array.from({ length: n }, () => `key_${hex(16)}`);
    // Literal values: generated hex only, no user input.
    statements.push(
      db.prepare(
        `INSERT INTO api_keys (id, tenant_id, name, scopes, models, version, created_at, updated_at) VALUES ${ids
          .map((id) => `('${id}', '${tenant}', 'seeded', '["infer"]', NULL, 1, ${now}, ${now})`)
          .join(', ')}`,
      ),
      db.prepare(
        `INSERT INTO key_secrets (hash, key_id, start, created_at) VALUES ${ids
          .map((id) => `('${hex(64)}', '${id}', 'sk_test_xxxx', ${now})`)
          .join(', ')}`,
      ),
    );
  }
  for (let i = 0; i < statements.length; i += 50) await db.batch(statements.slice(i, i + 50));
}

describe('100,000 keys (workerd, local D1 + KV)', () => {
  it('a key among 100,000 more is resolved with the same binding calls as among a few, by primary key', {
    timeout: 120_000,
  }, async () => {
    const calls = async (seeded: number) => {
      const w = await world();
      const t = await w.tenant();
      if (seeded > 0) await seed(w.env.DB, t.id, seeded);
      const k = await w.key({ tenant: t.id });
      const count = async (isolate: typeof w.a) => {
        w.d1.calls = 0;
        w.kv.calls = 0;
        const res = await isolate.call(
          classifyRequest(k.key, { text: `spam ${unique()}` }, { 'cache-control': 'no-store' }),
          w.env,
        );
        expect(res.status).toBe(200);
        return [w.d1.calls, w.kv.calls];
      };
      // Isolate b has never seen the key: KV (written at creation) answers; then its isolate cache does.
      const kvHit = await count(w.b);
      const isolateHit = await count(w.b);
      // A key missing from KV (its projection deleted): D1 by hash, then written back to KV.
      await w.env.KEYS.delete(`key:${await sha256Hex(k.key)}`);
      const d1Miss = await count(w.a);
      const rows = await w.env.DB.prepare('SELECT COUNT(*) AS n FROM key_secrets').first<{ n: number }>();
      return { kvHit, isolateHit, d1Miss, rows: rows?.n ?? 0, db: w.env.DB };
    };
    // The local D1 is shared by the run's other tests: "one" is the table as they left it (a few dozen keys).
    const one = await calls(0);
    const many = await calls(SEEDED);
    expect(many.rows).toBeGreaterThanOrEqual(one.rows + SEEDED);
    expect([many.kvHit, many.isolateHit, many.d1Miss]).toEqual([one.kvHit, one.isolateHit, one.d1Miss]);
    expect(many.isolateHit).toEqual([0, 0]);
    const plan = await many.db
      .prepare(`EXPLAIN QUERY PLAN ${FIND_SECRET}`)
      .bind('0'.repeat(64))
      .all<{ detail: string }>();
    const details = plan.results.map((r) => r.detail);
    expect(details.join('\n')).not.toMatch(/\bSCAN\b/);
    expect(
      details.some((d) => /SEARCH m USING INDEX sqlite_autoindex_key_secrets_1 \(hash=\?\)/.test(d)),
    ).toBe(true);
  });
});
