/**
 * Rules, dashboard and scaling queries read only metrics the origin exports, and parse as PromQL (with the
 * Prometheus project's grammar). The list of exported metrics is itself checked against a live scrape in
 * scrape.test.ts.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { EDGE_STATS_METRICS } from '../../edge/src/stats/prometheus.ts';
import { PSI_ALERT } from '../../shared/drift/index.ts';
import { ERROR_STATUS } from '../../shared/errors/index.ts';
import { loadFromPlan, planCapacity } from '../capacity.ts';
import { render } from '../k8s/render.ts';
import { exportedSeriesNames } from './origin-metrics.ts';
import { analyzePromql, expandGrafanaVariables } from './promql.ts';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const readYaml = (path: string) => parse(readFileSync(here(path), 'utf8'));

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  labels?: Record<string, string>;
}
const rules: Rule[] = readYaml('./prometheus-rules.yaml').groups.flatMap((g: { rules: Rule[] }) => g.rules);
const recorded = new Set(rules.flatMap((r) => (r.record === undefined ? [] : [r.record])));
const dashboard = JSON.parse(readFileSync(here('./grafana-origin-dashboard.json'), 'utf8'));

/** Every query this repository ships, with where it comes from. */
const queries: { where: string; expr: string }[] = [];

beforeAll(async () => {
  for (const r of rules) queries.push({ where: `rule ${r.record ?? r.alert}`, expr: r.expr });
  for (const panel of dashboard.panels) {
    for (const t of panel.targets ?? []) {
      queries.push({
        where: `dashboard panel '${panel.title}' ${t.refId}`,
        expr: expandGrafanaVariables(t.expr),
      });
    }
  }
  for (const v of dashboard.templating.list) {
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    const labelValues = /^label_values\((.+),\s*\w+\)$/.exec(q ?? '');
    if (labelValues !== null)
      queries.push({ where: `dashboard variable ${v.name}`, expr: labelValues[1] as string });
  }
  for (const overlay of ['cpu', 'gpu']) {
    for (const o of await render(here(`../k8s/overlays/${overlay}`))) {
      if (o.kind !== 'ScaledObject') continue;
      for (const t of (o.spec as { triggers: { name: string; metadata: { query: string } }[] }).triggers) {
        queries.push({ where: `${overlay} ScaledObject trigger ${t.name}`, expr: t.metadata.query });
      }
    }
  }
  const adapter = readYaml('./prometheus-adapter-values.yaml');
  for (const rule of adapter.rules.custom) {
    queries.push({ where: 'prometheus-adapter seriesQuery', expr: rule.seriesQuery });
    const series = analyzePromql(rule.seriesQuery).metrics[0] as string;
    const metricsQuery = rule.metricsQuery
      .replace('<<.Series>>', series)
      .replace('<<.LabelMatchers>>', 'namespace="inference"')
      .replace('<<.GroupBy>>', 'pod');
    queries.push({ where: 'prometheus-adapter metricsQuery', expr: metricsQuery });
  }
  const hpa = readYaml('../k8s/components/hpa/hpa.yaml');
  for (const m of hpa.spec.metrics) queries.push({ where: 'HPA pods metric', expr: m.pods.metric.name });
});

describe('analyzePromql', () => {
  it('finds the metrics of vector and matrix selectors, not functions, labels or keywords', () => {
    expect(
      analyzePromql(
        'sum by (namespace, le) (rate(a_bucket{reason=~"x|y"}[5m])) / on (namespace) group_left b:rec offset 1h or c',
      ),
    ).toEqual({ metrics: ['a_bucket', 'b:rec', 'c'], errors: [] });
  });

  it('reports syntax errors, such as group_left swallowing the parenthesis that follows it', () => {
    expect(analyzePromql('sum(rate(x[5m])').errors).not.toEqual([]);
    expect(analyzePromql('a + on (n) group_left (sum by (n) (b))').errors).not.toEqual([]);
    expect(analyzePromql('a + on (n) (sum by (n) (b))').errors).toEqual([]);
  });

  it("expands Grafana's interval variables", () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a Grafana variable, not a JS placeholder
    expect(expandGrafanaVariables('rate(x[$__rate_interval]) + rate(y[${__interval}])')).toBe(
      'rate(x[5m]) + rate(y[5m])',
    );
  });
});

describe('every shipped query', () => {
  it('covers rules, dashboard, KEDA, prometheus-adapter and HPA', () => {
    const kinds = new Set(queries.map((q) => q.where.split(' ')[0]));
    expect([...kinds].sort()).toEqual(['HPA', 'cpu', 'dashboard', 'gpu', 'prometheus-adapter', 'rule']);
    expect(queries.length).toBeGreaterThan(40);
  });

  it('parses as PromQL', () => {
    const broken = queries.flatMap((q) => analyzePromql(q.expr).errors.map((e) => `${q.where}: ${e}`));
    expect(broken).toEqual([]);
  });

  it('reads only metrics the origin or the edge stats route exports, or recording rules defined here over them', () => {
    const exported = new Set([...exportedSeriesNames(), ...Object.keys(EDGE_STATS_METRICS)]);
    const unknown = queries.flatMap((q) =>
      analyzePromql(q.expr)
        .metrics.filter((m) => !exported.has(m) && !recorded.has(m))
        .map((m) => `${q.where}: ${m}`),
    );
    expect(unknown).toEqual([]);
    const used = new Set(queries.flatMap((q) => analyzePromql(q.expr).metrics));
    expect([...used].filter((m) => exported.has(m)).length).toBeGreaterThanOrEqual(10);
  });

  it('filters failure reasons by error codes that exist (shared/errors)', () => {
    const codes = new Set(Object.keys(ERROR_STATUS));
    const reasons = queries.flatMap((q) =>
      [...q.expr.matchAll(/reason\s*[!=]~\s*"([^"]+)"/g)].flatMap((m) => (m[1] as string).split('|')),
    );
    expect(reasons.length).toBeGreaterThan(5);
    for (const r of reasons) expect(codes, r).toContain(r);
  });
});

describe('rules', () => {
  it('name recording rules level:metric:operations and label every alert with a severity and summary', () => {
    for (const r of rules) {
      if (r.record !== undefined) expect(r.record).toMatch(/^[a-z_]+:[a-z_]+:[a-z0-9_]+$/);
      else {
        expect(r.alert).toMatch(/^[A-Z][A-Za-z0-9]+$/);
        expect(['page', 'warning']).toContain(r.labels?.severity);
        expect((r as { annotations?: { summary?: string } }).annotations?.summary).toBeTruthy();
      }
    }
  });

  it('alert on error rate, p99 latency, queue time, saturation, shedding and escalation drift', () => {
    const alerts = rules.flatMap((r) => (r.alert === undefined ? [] : [r.alert]));
    for (const name of [
      'OriginHighErrorRate',
      'OriginHighP99Latency',
      'OriginQueueTimeHigh',
      'OriginSaturated',
      'OriginSheddingLoad',
      'OriginEscalatedRateAbovePlan',
      'OriginPredictionDrift',
      'OriginOodShareHigh',
      'EdgeShareOffPlan',
      'EdgePredictionDrift',
    ]) {
      expect(alerts).toContain(name);
    }
  });

  it("keep the escalation alert's constant equal to the capacity plan's expected_origin_rps", () => {
    const plan = planCapacity(
      { batched_rps_c64: 1 }, // the expected escalated rate does not depend on replica throughput
      loadFromPlan(JSON.parse(readFileSync(here('../capacity-plan.json'), 'utf8'))),
    );
    const rule = rules.find((r) => r.alert === 'OriginEscalatedRateAbovePlan') as Rule;
    const match = /> 1\.5 \* ([0-9.]+)$/.exec(rule.expr.trim());
    expect(Number(match?.[1])).toBe(plan.expected_origin_rps);
    expect(Number(rule.labels?.plan_expected_origin_rps)).toBe(plan.expected_origin_rps);
  });

  it("alert on prediction drift at shared/drift's PSI_ALERT, over the PSI gauge, for 30 minutes", () => {
    const rule = rules.find((r) => r.alert === 'OriginPredictionDrift') as Rule & {
      for: string;
      annotations: { description: string };
    };
    expect(analyzePromql(rule.expr).metrics).toContain('nv_inference_prediction_psi');
    expect(rule.expr).toContain(`nv_inference_prediction_psi > ${PSI_ALERT}`);
    expect(Number(rule.labels?.psi_alert)).toBe(PSI_ALERT);
    expect(rule.for).toBe('30m');
    const description = rule.annotations.description;
    expect(description).toContain('{{ $labels.model }}/{{ $labels.version }}');
    expect(description).toContain(String(PSI_ALERT));
  });

  it('read every drift metric the origin exports in some rule', () => {
    const read = new Set(rules.flatMap((r) => analyzePromql(r.expr).metrics));
    for (const series of [
      'nv_inference_prediction_score_count',
      'nv_inference_prediction_coverage_count',
      'nv_inference_prediction_ood',
      'nv_inference_prediction_psi',
      'nv_model_expected_escalation_share',
    ]) {
      expect(read, series).toContain(series);
    }
  });

  it("alert on the edge's PSI at the same bound, and scrape the edge stats route in the format it serves", () => {
    const rule = rules.find((r) => r.alert === 'EdgePredictionDrift') as Rule;
    expect(rule.expr).toContain(`edge_prediction_psi) > ${PSI_ALERT}`);
    expect(Number(rule.labels?.psi_alert)).toBe(PSI_ALERT);
    const [job] = readYaml('./prometheus-scrape-edge.yaml');
    expect(job.metrics_path).toMatch(/^\/v1\/admin\/models\/[a-z0-9-]+\/stats$/);
    expect(job.params.format).toEqual(['prometheus']);
    expect(job.authorization.credentials_file).toBeTruthy();
    expect(JSON.stringify(job)).not.toMatch(/sk_/);
  });

  it('use the KEDA queue-time target as the saturation threshold', async () => {
    const so = readYaml('../k8s/components/keda/scaledobject.yaml');
    const target = so.spec.triggers.find((t: { name: string }) => t.name === 'queue-time-p95').metadata
      .threshold;
    const rule = rules.find((r) => r.alert === 'OriginSaturated') as Rule;
    expect(rule.expr).toContain(`> ${target}`);
  });
});

describe('the Grafana dashboard', () => {
  it('has a uid, unique panel ids, a Prometheus datasource variable on every query, and no overlapping panels', () => {
    expect(dashboard.uid).toMatch(/^[a-z0-9-]+$/);
    const ids = dashboard.panels.map((p: { id: number }) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const p of dashboard.panels) {
      const { x, y, w, h } = p.gridPos;
      expect(x + w).toBeLessThanOrEqual(24);
      for (let i = x; i < x + w; i++) {
        for (let j = y; j < y + h; j++) {
          expect(cells.has(`${i},${j}`), `${p.title} overlaps`).toBe(false);
          cells.add(`${i},${j}`);
        }
      }
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a Grafana variable, not a JS placeholder
      for (const t of p.targets ?? []) expect(t.datasource.uid).toBe('${datasource}');
    }
    expect(dashboard.templating.list.map((v: { name: string }) => v.name)).toEqual([
      'datasource',
      'namespace',
      'model',
    ]);
  });

  it('has a Drift row with score, label mix, coverage, ood and PSI panels, PSI thresholds at 0.1 and 0.25', () => {
    type Panel = {
      type: string;
      title: string;
      gridPos: { y: number };
      targets?: { expr: string }[];
      fieldConfig?: { defaults: { thresholds?: { steps: { value: number | null }[] } } };
    };
    const panels = dashboard.panels as Panel[];
    const row = panels.find((p) => p.type === 'row' && p.title === 'Drift') as Panel;
    expect(row).toBeDefined();
    const below = panels.filter((p) => p.type !== 'row' && p.gridPos.y > row.gridPos.y);
    const reads = (metric: string) =>
      below.filter((p) =>
        (p.targets ?? []).some((t) => analyzePromql(expandGrafanaVariables(t.expr)).metrics.includes(metric)),
      );
    expect(reads('nv_inference_prediction_score_bucket').length).toBeGreaterThan(0);
    expect(reads('nv_inference_prediction_score_count').length).toBeGreaterThan(0);
    expect(reads('nv_inference_prediction_coverage_bucket').length).toBeGreaterThan(0);
    expect(reads('nv_inference_prediction_ood').length).toBeGreaterThan(0);
    const [psiPanel] = reads('nv_inference_prediction_psi');
    const steps = psiPanel?.fieldConfig?.defaults.thresholds?.steps.map((s) => s.value);
    expect(steps).toEqual([null, 0.1, PSI_ALERT]);
  });
});
