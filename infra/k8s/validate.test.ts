import { describe, expect, it } from 'vitest';
import { modelModule, validateObject } from './validate.ts';

const deployment = (spec: Record<string, unknown>) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'x' },
  spec: {
    selector: { matchLabels: { a: 'b' } },
    template: { spec: { containers: [{ name: 'c', image: 'i' }] } },
    ...spec,
  },
});

describe('validateObject', () => {
  it('accepts a minimal valid Deployment', async () => {
    expect(await validateObject(deployment({}))).toEqual([]);
  });

  it('reports schema errors: wrong types, missing required fields, bad quantities', async () => {
    expect((await validateObject(deployment({ replicas: 'two' }))).join()).toMatch(
      /replicas must be integer/,
    );
    const noName = deployment({ template: { spec: { containers: [{ image: 'i' }] } } });
    expect((await validateObject(noName)).join()).toMatch(/containers\/0 must have required property name/);
    const badCpu = deployment({
      template: { spec: { containers: [{ name: 'c', resources: { requests: { cpu: 'lots' } } }] } },
    });
    expect((await validateObject(badCpu)).join()).toMatch(/format "quantity"/);
  });

  it('reports unknown fields at any depth, which the schemas alone let through', async () => {
    const typo = deployment({
      template: {
        spec: {
          terminationGracePeriodSecond: 30,
          containers: [{ name: 'c', readinessProbe: { httpGet: { path: '/', port: 8000, paht: '/x' } } }],
        },
      },
    });
    expect(await validateObject(typo)).toEqual([
      'Deployment/x: unknown field /spec/template/spec/terminationGracePeriodSecond',
      'Deployment/x: unknown field /spec/template/spec/containers/0/readinessProbe/httpGet/paht',
    ]);
  });

  it('checks KEDA ScaledObjects too, keeping trigger metadata a free-form map', async () => {
    const so = {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: 's' },
      spec: {
        scaleTargetRef: { name: 'd' },
        triggers: [{ type: 'prometheus', metadata: { query: 'up', anything: 'goes' } }],
        maxReplicas: 3,
      },
    };
    expect(await validateObject(so)).toEqual(['ScaledObject/s: unknown field /spec/maxReplicas']);
  });

  it('reports an object without a schema', async () => {
    expect(
      (
        await validateObject({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } })
      ).join(),
    ).toMatch(/no schema for example.com\/v1 Widget/);
    expect(() => modelModule('apps/v1', 'lower')).toThrow(TypeError);
  });
});
