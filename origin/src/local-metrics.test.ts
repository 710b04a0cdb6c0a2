/**
 * The locally summed metrics against prom-client's own Counter and Histogram: the same observations give the same
 * exposition (every sample line, as a set), through prom-client's registry in both text formats.
 */
import { Counter, Histogram, Registry, type RegistryContentType } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { LocalCounter, LocalHistogram } from './local-metrics.ts';

/** The sample lines of an exposition, labels sorted, as a set (order is not part of the format). */
function samples(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((line) => {
      const m = /^([^{ ]+)(?:\{([^}]*)\})? (.+)$/.exec(line);
      if (m === null) throw new Error(`not a sample line: ${line}`);
      const labels = (m[2] ?? '').split(',').filter(Boolean).sort().join(',');
      return `${m[1]}{${labels}} ${m[3]}`;
    })
    .sort();
}

const BUCKETS = [0.001, 0.01, 0.1, 1];
const VALUES = [0, 0.0005, 0.001, 0.002, 0.05, 0.1, 0.5, 1, 3, 1e-9, 0.1];

describe('locally summed metrics (prom-client registry)', () => {
  it.each([Registry.PROMETHEUS_CONTENT_TYPE, Registry.OPENMETRICS_CONTENT_TYPE])(
    'expose what prom-client Counter and Histogram expose for the same observations (%s)',
    async (contentType) => {
      const theirs = new Registry<RegistryContentType>();
      theirs.setContentType(contentType);
      const ours = new Registry<RegistryContentType>();
      ours.setContentType(contentType);
      const labelNames = ['model', 'version'];
      const h = new Histogram({
        name: 'lat_seconds',
        help: 'h',
        labelNames,
        buckets: BUCKETS,
        registers: [theirs],
      });
      const c = new Counter({ name: 'rows', help: 'c', labelNames, registers: [theirs] });
      const lh = new LocalHistogram('lat_seconds', 'h', BUCKETS, ours);
      const lc = new LocalCounter('rows', 'c', ours);
      for (const version of ['1', '2']) {
        const labels = { model: 'spam', version };
        const mine = lh.child(labels);
        const rows = lc.child(labels);
        for (const v of VALUES) {
          h.observe(labels, v * Number(version));
          mine.observe(v * Number(version));
          c.inc(labels, 3);
          rows.inc(3);
        }
      }
      // A series started at zero, and one never started (absent from both).
      h.zero({ model: 'digits', version: '1' });
      lh.child({ model: 'digits', version: '1' }).zero();
      c.inc({ model: 'digits', version: '1' }, 0);
      lc.child({ model: 'digits', version: '1' }).inc(0);
      lh.child({ model: 'never', version: '1' });
      lc.child({ model: 'never', version: '1' });
      expect(samples(await ours.metrics())).toEqual(samples(await theirs.metrics()));
      expect(await ours.metrics()).not.toContain('never');
    },
  );

  it('ignore NaN, reset to zero keeping their children, and refuse bad buckets naming them', async () => {
    const registry = new Registry();
    const h = new LocalHistogram('x', 'h', BUCKETS, registry);
    const c = new LocalCounter('n', 'c', registry);
    const child = h.child({ model: 'm' });
    const count = c.child({ model: 'm' });
    child.observe(Number.NaN);
    child.observe(0.5);
    count.inc();
    expect(samples(await registry.metrics())).toContain('x_count{model="m"} 1');
    h.reset();
    c.reset();
    child.observe(2);
    count.inc(2);
    const text = samples(await registry.metrics());
    expect(text).toContain('x_bucket{le="+Inf",model="m"} 1');
    expect(text).toContain('x_bucket{le="1",model="m"} 0');
    expect(text).toContain('n{model="m"} 2');
    expect(() => new LocalHistogram('y', 'h', [1, 1], new Registry())).toThrow(/increasing.*\[1,1\]/);
    expect(() => new LocalHistogram('y', 'h', [], new Registry())).toThrow(TypeError);
  });
});
