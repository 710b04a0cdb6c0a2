import { describe, expect, it } from 'vitest';
import { parseRegions, seedRtts } from '../edge/src/origin-client/regions.ts';
import {
  COLO_INFO,
  COLOS,
  latencyByColo,
  nearbyConfig,
  REGIONS,
  RTT_MS,
  startRegionsStack,
} from './stack-regions.ts';

describe('the regions stack configuration', () => {
  const pools = JSON.stringify(
    REGIONS.map((r, i) => ({ id: r, region: r, urls: [`http://127.0.0.1:${9000 + i}`] })),
  );

  it('ORIGIN_NEARBY is valid for the edge and seeds each colo with the RTT matrix, nearest first', () => {
    const config = parseRegions({ ORIGIN_POOLS: pools, ORIGIN_NEARBY: nearbyConfig(), originUrls: [] });
    for (const colo of COLOS) {
      expect(Object.fromEntries(seedRtts(config, { colo }))).toEqual(RTT_MS[colo]);
      expect(config.nearby.colos.get(colo)?.[0]?.pool).toBe(COLO_INFO[colo].nearest);
      // A request whose colo is not listed falls back to its continent's list.
      expect(
        Object.fromEntries(seedRtts(config, { colo: 'XXX', continent: COLO_INFO[colo].continent })),
      ).toEqual(RTT_MS[colo]);
    }
  });

  it("each pool's proxy adds the RTT from every colo to its region", () => {
    expect(latencyByColo('eu')).toEqual({ FRA: 5, IAD: 80, SIN: 150 });
    for (const r of REGIONS) for (const c of COLOS) expect(latencyByColo(r)[c]).toBe(RTT_MS[c][r]);
  });

  it('refuses a bad origin count or edge mode before starting anything', async () => {
    await expect(startRegionsStack({ originsPerPool: 0 })).rejects.toThrow(/originsPerPool/);
    await expect(startRegionsStack({ edge: 'miniflare' as 'none' })).rejects.toThrow(/edge/);
  });
});
