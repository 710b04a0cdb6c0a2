/**
 * The release gate of the learning loop: a candidate trained with reviewed items is compared with the stable release
 * on the frozen corpus test split and on the held-out part of the reviewed items (those whose key puts them in the
 * test split: data/extra.ts splitOfKey), answer by answer, as each release's cascade answers (decision rule, edge
 * threshold and OOD rule applied; eval/evaluate-release.ts releaseAnswers).
 *
 * The candidate passes when
 * - corpus: it is not worse beyond noise: not (fewer right answers AND McNemar p < `alpha`), and its accuracy is
 *   at most `maxCorpusDrop` below stable's;
 * - reviewed domain: it is better: more right answers than stable on the held-out reviewed items (at least
 *   `minDomainItems` of them; with fewer, there is nothing to show it is better, and the gate fails).
 * The verdict and every figure go into the candidate's eval.json (`gate`).
 */
import type { Manifest } from '../../../shared/manifest/index.ts';
import type { Message } from '../data/corpus.ts';
import { releaseAnswers } from '../eval/evaluate-release.ts';
import { type PairedComparison, pairedComparison } from '../eval/paired.ts';

export interface GateOptions {
  /** Significance of "worse on the corpus". @default 0.05 */
  alpha?: number;
  /** Largest corpus accuracy drop accepted, whatever the test says. @default 0.003 (0.3 pt) */
  maxCorpusDrop?: number;
  /** Fewest held-out reviewed items the domain comparison needs. @default 5 */
  minDomainItems?: number;
}

export interface SideFigures {
  n: number;
  stable_acc: number;
  candidate_acc: number;
  stable_ham_fpr: number;
  candidate_ham_fpr: number;
  paired: PairedComparison;
}

export interface GateVerdict {
  pass: boolean;
  /** Why it failed (empty when it passed). */
  reasons: string[];
  stable: string;
  candidate: string;
  corpus: SideFigures;
  domain: SideFigures;
  rule: Required<GateOptions>;
}

type Labelled = ReadonlyArray<{ text: string; label: 0 | 1 }>;

function figures(
  labels: readonly number[],
  stable: readonly number[],
  candidate: readonly number[],
): SideFigures {
  const acc = (p: readonly number[]) =>
    labels.length === 0 ? 0 : p.filter((x, i) => x === labels[i]).length / labels.length;
  const fpr = (p: readonly number[]) => {
    const ham = labels.filter((y) => y === 0).length;
    return ham === 0 ? 0 : p.filter((x, i) => x === 1 && labels[i] === 0).length / ham;
  };
  return {
    n: labels.length,
    stable_acc: acc(stable),
    candidate_acc: acc(candidate),
    stable_ham_fpr: fpr(stable),
    candidate_ham_fpr: fpr(candidate),
    paired: pairedComparison(labels, candidate, stable),
  };
}

/** The gate's verdict from the two releases' answers (pure: tested without models). */
export function judge(
  corpus: { labels: number[]; stable: number[]; candidate: number[] },
  domain: { labels: number[]; stable: number[]; candidate: number[] },
  names: { stable: string; candidate: string },
  options: GateOptions = {},
): GateVerdict {
  const rule = {
    alpha: options.alpha ?? 0.05,
    maxCorpusDrop: options.maxCorpusDrop ?? 0.003,
    minDomainItems: options.minDomainItems ?? 5,
  };
  const c = figures(corpus.labels, corpus.stable, corpus.candidate);
  const d = figures(domain.labels, domain.stable, domain.candidate);
  const reasons: string[] = [];
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  // pairedComparison(labels, a = candidate, b = stable): a_only_right / b_only_right.
  if (c.paired.b_only_right > c.paired.a_only_right && c.paired.mcnemar_p < rule.alpha) {
    reasons.push(
      `worse on the corpus test split beyond noise: ${pct(c.candidate_acc)} vs ${pct(c.stable_acc)} (McNemar p ${c.paired.mcnemar_p.toPrecision(3)})`,
    );
  }
  if (c.stable_acc - c.candidate_acc > rule.maxCorpusDrop + 1e-12) {
    reasons.push(
      `corpus accuracy drops ${(100 * (c.stable_acc - c.candidate_acc)).toFixed(2)} pt (limit ${(100 * rule.maxCorpusDrop).toFixed(2)} pt)`,
    );
  }
  if (d.n < rule.minDomainItems) {
    reasons.push(
      `only ${d.n} held-out reviewed items (at least ${rule.minDomainItems} needed to show a gain)`,
    );
  } else if (!(d.paired.a_only_right > d.paired.b_only_right)) {
    reasons.push(
      `not better on the held-out reviewed items: ${pct(d.candidate_acc)} vs ${pct(d.stable_acc)} (${d.paired.a_only_right} items only the candidate gets right, ${d.paired.b_only_right} only stable)`,
    );
  }
  return { pass: reasons.length === 0, reasons, ...names, corpus: c, domain: d, rule };
}

/** Scores both releases (their ONNX files, as served) on the corpus test split and the held-out reviewed items. */
export async function gateRelease(
  stable: { dir: string; manifest: Manifest },
  candidate: { dir: string; manifest: Manifest },
  corpusTest: readonly Message[],
  heldOutReviewed: readonly Message[],
  options: GateOptions = {},
): Promise<GateVerdict> {
  const answers = async (texts: Labelled) => ({
    stable: (await releaseAnswers(stable.dir, stable.manifest, texts)).cascade,
    candidate: (await releaseAnswers(candidate.dir, candidate.manifest, texts)).cascade,
  });
  const corpus = await answers(corpusTest);
  const domain =
    heldOutReviewed.length === 0 ? { stable: [], candidate: [] } : await answers(heldOutReviewed);
  return judge(
    { labels: corpusTest.map((m) => m.label), ...corpus },
    { labels: heldOutReviewed.map((m) => m.label), ...domain },
    { stable: stable.manifest.version, candidate: candidate.manifest.version },
    options,
  );
}
