/**
 * Origin pools in several regions, and which of them are near a Cloudflare location: the configuration the
 * router (router.ts) chooses from. Parsed and validated once per isolate from two wrangler vars (JSON):
 *
 *   ORIGIN_POOLS      [{"id": "eu-1", "region": "eu", "urls": ["https://eu-1.example.com"], "weight": 1,
 *                       "capacity": 1024, "batch": false}, ...]
 *   ORIGIN_NEARBY     {"default": [["us-1", 80], ["eu-1", 120]],
 *                      "continents": {"EU": [["eu-1", 15], ["us-1", 95]]},
 *                      "countries": {"AU": [["ap-1", 10]]},
 *                      "colos": {"FRA": [["eu-1", 5], ["us-1", 90], ["ap-1", 160]]}}
 *
 * A nearby list is ordered nearest first: `[pool or region, seed RTT in ms]`; a region name stands for all of its
 * pools. The most specific entry wins (colo, then country, then continent, then default); pools a list does not
 * name stay usable as the farthest, at `UNLISTED_RTT_MS` more than its farthest entry, so failover can reach every
 * allowed pool. Errors name what is wrong: an unknown pool or region, an empty pool, a URL in two pools, a bad id.
 *
 * Without ORIGIN_POOLS, ORIGIN_URLS is one pool, id `default`, in region ORIGIN_REGION (default `default`): the
 * single-pool setup works as before (a tenant pinned to a region that pool is not in gets degraded answers).
 */
import { z } from 'zod';

/** Region and pool ids: lower case, as tenant records name regions (tenants/routes.ts). */
const ID = /^[a-z][a-z0-9-]{0,31}$/;

/** How much farther than a list's farthest entry an unlisted pool is assumed to be, ms. */
export const UNLISTED_RTT_MS = 150;
/** Seed RTT when no list names anything (no map at all), ms. */
export const DEFAULT_SEED_RTT_MS = 50;

export interface PoolConfig {
  id: string;
  region: string;
  urls: string[];
  /** Relative share among pools that are otherwise equal. @default 1 */
  weight: number;
  /** Rows a replica can hold queued before it sheds load, when the origin does not report it. @default 1024 */
  capacity: number;
  /** Batch pool (spot/preemptible nodes): job escalations prefer it, interactive requests never use it. */
  batch: boolean;
}

export interface NearbyEntry {
  pool: string;
  rttMs: number;
}

export interface RegionsConfig {
  pools: PoolConfig[];
  /** Nearby lists resolved to pool ids, nearest first. */
  nearby: {
    default: NearbyEntry[];
    continents: Map<string, NearbyEntry[]>;
    countries: Map<string, NearbyEntry[]>;
    colos: Map<string, NearbyEntry[]>;
  };
}

/** Where a request entered Cloudflare (request.cf). */
export interface Location {
  colo?: string;
  country?: string;
  continent?: string;
}

const Url = z
  .string()
  .transform((s) => s.trim().replace(/\/+$/, ''))
  .refine((s) => /^https?:\/\/[^\s/]+/.test(s) && URL.canParse(s), 'must be an http(s) URL');

const PoolSchema = z.strictObject({
  id: z.string().regex(ID, 'must be lower case letters, digits and -, starting with a letter (<= 32)'),
  region: z.string().regex(ID, 'must be lower case letters, digits and -, starting with a letter (<= 32)'),
  urls: z.array(Url).min(1, 'is empty: a pool needs at least one origin URL').max(64),
  weight: z.number().positive().max(1000).default(1),
  capacity: z.number().int().positive().max(10_000_000).default(1024),
  batch: z.boolean().default(false),
});

const Entry = z.tuple([z.string().min(1).max(64), z.number().min(0).max(10_000)]);
const List = z.array(Entry).max(64);
const NearbySchema = z.strictObject({
  default: List.default([]),
  continents: z
    .record(z.string().regex(/^[A-Z]{2}$/, 'a continent code (EU, NA, AS, ...)'), List)
    .default({}),
  countries: z.record(z.string().regex(/^[A-Z]{2}$/, 'an ISO country code'), List).default({}),
  colos: z.record(z.string().regex(/^[A-Z]{3}$/, 'an IATA colo code (FRA, IAD, ...)'), List).default({}),
});

function issueText(name: string, error: z.ZodError): string {
  const first = error.issues[0];
  const path = first?.path.length ? `[${first.path.join('][')}]` : '';
  return `${name}${path} ${first?.message ?? 'is invalid'}`;
}

function json(name: string, raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    throw new TypeError(`${name} must be JSON, got ${raw.length} characters that do not parse`);
  }
}

/**
 * The pools and nearby lists from ORIGIN_POOLS / ORIGIN_NEARBY, or the single pool of `originUrls`. Throws a
 * TypeError naming the variable and the fault.
 */
export function parseRegions(env: {
  ORIGIN_POOLS?: string;
  ORIGIN_NEARBY?: string;
  ORIGIN_REGION?: string;
  originUrls: readonly string[];
}): RegionsConfig {
  let pools: PoolConfig[];
  if (env.ORIGIN_POOLS === undefined || env.ORIGIN_POOLS.trim() === '') {
    const region = env.ORIGIN_REGION?.trim() || 'default';
    if (!ID.test(region)) throw new TypeError(`ORIGIN_REGION ${JSON.stringify(region)} is not a region id`);
    pools =
      env.originUrls.length === 0
        ? []
        : [{ id: 'default', region, urls: [...env.originUrls], weight: 1, capacity: 1024, batch: false }];
  } else {
    if (env.originUrls.length > 0) {
      throw new TypeError('ORIGIN_POOLS and ORIGIN_URLS are both set: list every origin in ORIGIN_POOLS');
    }
    const parsed = z.array(PoolSchema).min(1).max(64).safeParse(json('ORIGIN_POOLS', env.ORIGIN_POOLS));
    if (!parsed.success) throw new TypeError(issueText('ORIGIN_POOLS', parsed.error));
    pools = parsed.data;
    const ids = new Set<string>();
    const urls = new Map<string, string>();
    for (const pool of pools) {
      if (ids.has(pool.id)) throw new TypeError(`ORIGIN_POOLS: pool id ${pool.id} is given twice`);
      ids.add(pool.id);
      for (const url of pool.urls) {
        const other = urls.get(url);
        if (other !== undefined) {
          throw new TypeError(
            `ORIGIN_POOLS: ${url} is in pool ${other} and pool ${pool.id} (an origin belongs to one pool)`,
          );
        }
        urls.set(url, pool.id);
      }
    }
  }
  return { pools, nearby: parseNearby(env.ORIGIN_NEARBY, pools) };
}

function parseNearby(raw: string | undefined, pools: readonly PoolConfig[]): RegionsConfig['nearby'] {
  const empty = { default: [], continents: new Map(), countries: new Map(), colos: new Map() };
  if (raw === undefined || raw.trim() === '') return empty;
  const parsed = NearbySchema.safeParse(json('ORIGIN_NEARBY', raw));
  if (!parsed.success) throw new TypeError(issueText('ORIGIN_NEARBY', parsed.error));
  const byId = new Set(pools.map((p) => p.id));
  const regions = new Set(pools.map((p) => p.region));
  const resolve = (where: string, list: z.infer<typeof List>): NearbyEntry[] => {
    const out: NearbyEntry[] = [];
    const seen = new Set<string>();
    for (const [name, rttMs] of list) {
      let ids: string[];
      if (byId.has(name)) ids = [name];
      else if (regions.has(name)) ids = pools.filter((p) => p.region === name).map((p) => p.id);
      else {
        throw new TypeError(
          `ORIGIN_NEARBY${where} names ${JSON.stringify(name)}, which is neither a pool nor a region of ORIGIN_POOLS (pools: ${[...byId].join(', ') || 'none'}; regions: ${[...regions].join(', ') || 'none'})`,
        );
      }
      for (const id of ids) {
        if (seen.has(id)) throw new TypeError(`ORIGIN_NEARBY${where} names pool ${id} twice`);
        seen.add(id);
        out.push({ pool: id, rttMs });
      }
    }
    return out;
  };
  const map = (what: string, rec: Record<string, z.infer<typeof List>>) =>
    new Map(Object.entries(rec).map(([k, list]) => [k, resolve(`.${what}.${k}`, list)]));
  return {
    default: resolve('.default', parsed.data.default),
    continents: map('continents', parsed.data.continents),
    countries: map('countries', parsed.data.countries),
    colos: map('colos', parsed.data.colos),
  };
}

/**
 * Seed RTT per pool id for a location: the most specific nearby list (colo, country, continent, default), pools it
 * does not name after its farthest entry (+ UNLISTED_RTT_MS), all pools at DEFAULT_SEED_RTT_MS without any list.
 */
export function seedRtts(config: RegionsConfig, where: Location): Map<string, number> {
  const n = config.nearby;
  const list =
    (where.colo === undefined ? undefined : n.colos.get(where.colo)) ??
    (where.country === undefined ? undefined : n.countries.get(where.country)) ??
    (where.continent === undefined ? undefined : n.continents.get(where.continent)) ??
    n.default;
  const out = new Map<string, number>();
  for (const e of list) out.set(e.pool, e.rttMs);
  const far =
    list.length === 0 ? DEFAULT_SEED_RTT_MS : Math.max(...list.map((e) => e.rttMs)) + UNLISTED_RTT_MS;
  for (const p of config.pools) if (!out.has(p.id)) out.set(p.id, far);
  return out;
}
