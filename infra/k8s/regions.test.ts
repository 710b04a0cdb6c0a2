/**
 * The region overlays (infra/k8s/regions/<pool>): one origin pool each, on the cpu or gpu overlay, and the example
 * edge configuration that lists them (regions/edge-pools.example.json). Every overlay renders valid objects in a
 * namespace of its own, scales on its own pods only, and is the pool the example names: same id, region, URL
 * (its Ingress host) and capacity. The example parses with the edge's own parser (edge/src/origin-client).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseRegions, seedRtts } from '../../edge/src/origin-client/regions.ts';
import { ENV_NAMES, loadConfig } from '../../origin/src/config.ts';
import { exportedSeriesNames } from '../observability/origin-metrics.ts';
import { analyzePromql } from '../observability/promql.ts';
import { render } from './render.ts';
import { type KubeObject, validateObject } from './validate.ts';

const K8S = fileURLToPath(new URL('.', import.meta.url));
const REGIONS = join(K8S, 'regions');

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are walked as plain JSON
type Any = any;

interface Example {
  ORIGIN_POOLS: {
    id: string;
    region: string;
    urls: string[];
    weight?: number;
    capacity?: number;
    batch?: boolean;
  }[];
  ORIGIN_NEARBY: Record<string, unknown>;
}
const EXAMPLE: Example = JSON.parse(readFileSync(join(REGIONS, 'edge-pools.example.json'), 'utf8'));

/** Every folder of regions/ with a kustomization: all of them are checked, new ones included. */
const OVERLAYS = readdirSync(REGIONS, { withFileTypes: true })
  .filter((e) => e.isDirectory() && existsSync(join(REGIONS, e.name, 'kustomization.yaml')))
  .map((e) => e.name)
  .sort();

const SPOT_LABEL = 'cloud.google.com/gke-spot';

function find(objects: KubeObject[], kind: string, name?: string): Any {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
  expect(found, `${kind}/${name ?? '*'}`).toHaveLength(1);
  return found[0];
}

/** What the tests need of one rendered overlay. */
interface Pool {
  objects: KubeObject[];
  namespace: string;
  deployment: Any;
  container: Any;
  config: Record<string, string>;
  ingress: Any;
  scaled: Any;
  pdb: Any;
  variant: string;
  batch: boolean;
}

const pools = new Map<string, Pool>();
/** The trigger queries of the plain overlays, namespace `inference`. */
const plainQueries = new Map<string, string[]>();

beforeAll(async () => {
  for (const variant of ['cpu', 'gpu']) {
    const scaled = find(await render(join(K8S, 'overlays', variant)), 'ScaledObject', 'origin');
    plainQueries.set(
      variant,
      scaled.spec.triggers.map((t: Any) => t.metadata.query),
    );
  }
  await Promise.all(
    OVERLAYS.map(async (dir) => {
      const objects = await render(join(REGIONS, dir));
      const deployment = find(objects, 'Deployment', 'origin');
      const container = deployment.spec.template.spec.containers.find((c: Any) => c.name === 'origin');
      pools.set(dir, {
        objects,
        namespace: find(objects, 'Namespace').metadata.name,
        deployment,
        container,
        config: find(objects, 'ConfigMap', container.envFrom[0].configMapRef.name).data,
        ingress: find(objects, 'Ingress', 'origin'),
        scaled: find(objects, 'ScaledObject', 'origin'),
        pdb: find(objects, 'PodDisruptionBudget', 'origin'),
        variant: deployment.metadata.labels['app.kubernetes.io/variant'],
        batch: deployment.spec.template.spec.nodeSelector?.[SPOT_LABEL] === 'true',
      });
    }),
  );
});

const pool = (dir: string) => pools.get(dir) as Pool;

it('has the region overlays eu, us, ap and the batch pool us-batch', () => {
  expect(OVERLAYS).toEqual(expect.arrayContaining(['ap', 'eu', 'us', 'us-batch']));
});

describe.each(OVERLAYS)('region overlay %s', (dir) => {
  it('renders the objects of a pool, each valid against the Kubernetes and KEDA schemas, in its own namespace', async () => {
    const { objects, namespace, config } = pool(dir);
    expect(
      objects.map((o) => `${o.kind}/${o.kind === 'ConfigMap' ? 'origin-config' : o.metadata?.name}`).sort(),
    ).toEqual(
      [
        'ConfigMap/origin-config',
        'Deployment/origin',
        'Ingress/origin',
        `Namespace/${namespace}`,
        'NetworkPolicy/origin-ingress-only',
        'PodDisruptionBudget/origin',
        'ScaledObject/origin',
        'Service/origin',
      ].sort(),
    );
    const errors = (await Promise.all(objects.map(validateObject))).flat();
    expect(errors).toEqual([]);
    expect(namespace).toBe(`inference-${config.ORIGIN_POOL_ID}`);
    for (const o of objects) if (o.kind !== 'Namespace') expect(o.metadata?.namespace).toBe(namespace);
  });

  it('sets ORIGIN_POOL_ID, labels the pods with pool and region, and configures only what the origin reads', () => {
    const { config, deployment, container, variant } = pool(dir);
    const id = config.ORIGIN_POOL_ID as string;
    const labels = deployment.spec.template.metadata.labels;
    expect(labels['edge-origin-inference/pool']).toBe(id);
    expect(labels['edge-origin-inference/region']).toMatch(/^[a-z][a-z0-9-]{0,31}$/);
    // Selectors stay those of the base: an existing Deployment's selector cannot change.
    expect(deployment.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'origin' });
    const known = new Set(Object.values(ENV_NAMES));
    for (const name of Object.keys(config)) expect(known, name).toContain(name);
    // The origin accepts the whole ConfigMap (pool id, priorities...), with the secret the Deployment adds.
    const loaded = loadConfig({ ...config, ORIGIN_SIGNING_SECRET: 'ab'.repeat(32) });
    expect(loaded.poolId).toBe(id);
    expect(loaded.executionProvider).toBe(variant === 'gpu' ? 'cuda' : 'cpu');
    expect(container.image).toMatch(new RegExp(`-${variant}$`));
  });

  it('serves its own host through the Ingress, TLS included', () => {
    const { ingress, config } = pool(dir);
    const host = `origin-${config.ORIGIN_POOL_ID}.example.com`;
    expect(ingress.spec.rules.map((r: Any) => r.host)).toEqual([host]);
    expect(ingress.spec.tls.flatMap((t: Any) => t.hosts)).toEqual([host]);
  });

  it("scales with KEDA on its own pods only: the plain overlay's queries, scoped to the pool's namespace", () => {
    const { scaled, namespace, deployment, variant } = pool(dir);
    expect(scaled.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: deployment.metadata.name });
    const queries: string[] = scaled.spec.triggers.map((t: Any) => t.metadata.query);
    const plain = plainQueries.get(variant) as string[];
    expect(queries).toEqual(
      plain.map((q) => q.replaceAll('namespace="inference"', `namespace="${namespace}"`)),
    );
    const exported = new Set(exportedSeriesNames());
    for (const q of queries) {
      const { metrics, errors } = analyzePromql(q);
      expect(errors, q).toEqual([]);
      for (const m of metrics) expect(exported, q).toContain(m);
      const scopes = [...q.matchAll(/namespace\s*(=~?|!=|!~)\s*"([^"]*)"/g)].map((m) => `${m[1]}${m[2]}`);
      expect(scopes, q).toEqual(metrics.map(() => `=${namespace}`)); // one exact matcher per selector
    }
  });

  it('drains within the grace period (preStop + request deadline + connection close + margin)', () => {
    const { deployment, container, config } = pool(dir);
    const grace = deployment.spec.template.spec.terminationGracePeriodSeconds * 1000;
    const preStop = container.lifecycle.preStop.sleep.seconds * 1000;
    const drain = Math.min(Number(config.ORIGIN_DEFAULT_TIMEOUT_MS), Number(config.ORIGIN_DRAIN_TIMEOUT_MS));
    expect(grace).toBeGreaterThanOrEqual(preStop + drain + 10_000 + 5000);
  });

  it('is an interactive pool on on-demand nodes, or a batch pool on spot nodes with lower expectations', () => {
    const { deployment, scaled, pdb, config, variant, batch } = pool(dir);
    const spec = deployment.spec.template.spec;
    const spotToleration = {
      key: SPOT_LABEL,
      operator: 'Equal',
      value: 'true',
      effect: 'NoSchedule',
    };
    if (variant === 'gpu') {
      expect(spec.nodeSelector['nvidia.com/gpu.present']).toBe('true');
      expect(spec.tolerations).toContainEqual({
        key: 'nvidia.com/gpu',
        operator: 'Exists',
        effect: 'NoSchedule',
      });
    }
    if (batch) {
      expect(spec.tolerations).toContainEqual(spotToleration);
      expect(scaled.spec.minReplicaCount).toBe(1); // never zero: the edge would never see a queue to scale on
      expect(pdb.spec.maxUnavailable).toBe('50%');
      // Everything here is a job: the default priority is stated, and it is the lowest level (as jobs get).
      expect(config.ORIGIN_DEFAULT_PRIORITY).toBe(config.ORIGIN_PRIORITY_LEVELS);
    } else {
      expect(spec.nodeSelector?.[SPOT_LABEL]).toBeUndefined();
      expect(spec.tolerations ?? []).not.toContainEqual(spotToleration); // spot nodes are tainted: never here
      expect(scaled.spec.minReplicaCount).toBeGreaterThanOrEqual(2);
      expect(pdb.spec.maxUnavailable).toBe(1);
    }
    expect(scaled.spec.maxReplicaCount).toBeGreaterThan(scaled.spec.minReplicaCount);
  });
});

describe('the pools together, and the example edge configuration', () => {
  it('gives every overlay a distinct pool id and namespace (two pools may share a cluster)', () => {
    const ids = OVERLAYS.map((d) => pool(d).config.ORIGIN_POOL_ID);
    expect(new Set(ids).size).toBe(OVERLAYS.length);
    expect(new Set(OVERLAYS.map((d) => pool(d).namespace)).size).toBe(OVERLAYS.length);
  });

  it('lists exactly the overlays in ORIGIN_POOLS: id, region, Ingress host as URL, capacity, batch', () => {
    expect(EXAMPLE.ORIGIN_POOLS.map((p) => p.id).sort()).toEqual(
      OVERLAYS.map((d) => pool(d).config.ORIGIN_POOL_ID).sort(),
    );
    for (const dir of OVERLAYS) {
      const { config, deployment, ingress, batch } = pool(dir);
      const entry = EXAMPLE.ORIGIN_POOLS.find((p) => p.id === config.ORIGIN_POOL_ID);
      expect(entry, dir).toBeDefined();
      expect(entry?.region).toBe(deployment.spec.template.metadata.labels['edge-origin-inference/region']);
      expect(entry?.urls).toEqual(ingress.spec.rules.map((r: Any) => `https://${r.host}`));
      // What the origin reports as x-origin-capacity (ORIGIN_MAX_QUEUE) before it has answered once.
      expect(entry?.capacity).toBe(Number(config.ORIGIN_MAX_QUEUE));
      expect(entry?.batch ?? false).toBe(batch);
    }
  });

  it("parses with the edge's own parser, and sends each listed colo to its own region first", () => {
    const regions = parseRegions({
      ORIGIN_POOLS: JSON.stringify(EXAMPLE.ORIGIN_POOLS),
      ORIGIN_NEARBY: JSON.stringify(EXAMPLE.ORIGIN_NEARBY),
      originUrls: [],
    });
    expect(regions.pools.map((p) => p.id).sort()).toEqual(EXAMPLE.ORIGIN_POOLS.map((p) => p.id).sort());
    const regionOf = new Map(regions.pools.map((p) => [p.id, p.region]));
    const nearest: Record<string, string[]> = {
      eu: ['FRA', 'AMS', 'LHR', 'CDG'],
      us: ['IAD', 'ORD', 'DFW', 'SJC', 'LAX'],
      ap: ['SIN', 'NRT', 'SYD', 'HKG'],
    };
    for (const [region, colos] of Object.entries(nearest)) {
      for (const colo of colos) {
        const list = regions.nearby.colos.get(colo);
        expect(list, colo).toBeDefined();
        expect(regionOf.get(list?.[0]?.pool as string), colo).toBe(region);
        const seeds = seedRtts(regions, { colo });
        const best = Math.min(...seeds.values());
        for (const [id, rtt] of seeds) if (rtt === best) expect(regionOf.get(id), colo).toBe(region);
      }
    }
    for (const continent of ['EU', 'NA', 'AS', 'OC'])
      expect(regions.nearby.continents.has(continent)).toBe(true);
    expect(regions.nearby.default.length).toBeGreaterThan(0);
    // Every list is nearest first and names every region, so failover can reach all of them.
    const lists = [
      regions.nearby.default,
      ...regions.nearby.continents.values(),
      ...regions.nearby.colos.values(),
    ];
    for (const list of lists) {
      const rtts = list.map((e) => e.rttMs);
      expect(rtts).toEqual([...rtts].sort((a, b) => a - b));
      expect(new Set(list.map((e) => e.pool))).toEqual(new Set(regionOf.keys()));
    }
    // Every region with a batch pool also has an interactive one: interactive traffic never goes to batch pools.
    for (const p of regions.pools.filter((q) => q.batch)) {
      expect(regions.pools.some((q) => !q.batch && q.region === p.region)).toBe(true);
    }
  });
});
