/**
 * PromQL checks with the Prometheus project's own grammar (@prometheus-io/lezer-promql, the parser behind the
 * Prometheus UI's editor): syntax errors, and the metric names an expression reads.
 */
import { parser } from '@prometheus-io/lezer-promql';

export interface PromqlAnalysis {
  /** Metric names read by vector and matrix selectors, in order of first appearance. */
  metrics: string[];
  /** Where the parser found a syntax error (empty when the expression parses). */
  errors: string[];
}

/**
 * Grafana's built-in interval variables replaced by durations so the expression parses; other Grafana
 * variables only appear inside label-matcher strings in our dashboards ("$model") and need no change.
 */
export function expandGrafanaVariables(expr: string): string {
  return expr.replace(/\$\{?__(?:rate_interval|interval|range)\}?/g, '5m');
}

export function analyzePromql(expr: string): PromqlAnalysis {
  const tree = parser.parse(expr);
  const metrics: string[] = [];
  const errors: string[] = [];
  tree.iterate({
    enter(node) {
      if (node.type.isError) {
        errors.push(
          `syntax error at ${node.from}: ...${expr.slice(Math.max(0, node.from - 20), node.from + 20)}...`,
        );
        return;
      }
      if (node.type.name === 'VectorSelector') {
        const id = node.node.getChild('Identifier');
        if (id !== null) {
          const name = expr.slice(id.from, id.to);
          if (!metrics.includes(name)) metrics.push(name);
        }
      }
    },
  });
  return { metrics, errors };
}
