import { describe, expect, it } from 'vitest';
import { decide, parseEscalateHeader, type RouteInput, route } from './policy.ts';

const base: RouteInput = {
  mode: 'auto',
  modelAtEdge: true,
  versionAtEdge: true,
  edgeModelReady: true,
  items: 1,
  bytes: 100,
  maxItems: 8,
  maxBytes: 1000,
};

describe('cascade route (before the edge model)', () => {
  it('answers light requests for an edge model at the edge', () => {
    expect(route(base)).toEqual({ escalate: false });
    expect(route({ ...base, items: 8, bytes: 1000 })).toEqual({ escalate: false });
  });

  it.each([
    [{ mode: 'always' }, 'client_requested'],
    [{ modelAtEdge: false }, 'model_not_at_edge'],
    [{ versionAtEdge: false }, 'version_not_at_edge'],
    [{ edgeModelReady: false }, 'edge_model_unavailable'],
    [{ items: 9 }, 'too_many_items'],
    [{ bytes: 1001 }, 'too_many_bytes'],
  ] as const)('escalates %o with reason %s', (patch, reason) => {
    expect(route({ ...base, ...patch })).toEqual({ escalate: true, reason });
  });

  it('x-escalate: never answers heavy requests at the edge', () => {
    expect(route({ ...base, mode: 'never', items: 100, bytes: 1e6 })).toEqual({ escalate: false });
  });

  it('x-escalate: never without the model or version at the edge: 404 naming why; model failed to load: 503', () => {
    const thrown = (input: Partial<typeof base>) => {
      try {
        route({ ...base, mode: 'never', ...input });
      } catch (e) {
        return e as { status: number; message: string; headers: Record<string, string> };
      }
      throw new Error('expected route() to throw');
    };
    const noModel = thrown({ modelAtEdge: false });
    expect(noModel.status).toBe(404);
    expect(noModel.message).toMatch(/x-escalate: never.*model not at edge/);
    expect(thrown({ versionAtEdge: false }).status).toBe(404);
    const notLoaded = thrown({ edgeModelReady: false });
    expect(notLoaded.status).toBe(503);
    expect(notLoaded.headers['Retry-After']).toBe('1');
  });
});

describe('cascade decide (after the edge model, per item)', () => {
  it('answers every item at or above the threshold', () => {
    expect(decide('auto', [{ score: 0.9 }, { score: 0.99 }], 0.9)).toEqual([undefined, undefined]);
  });
  it('escalates only the items below it (or NaN)', () => {
    expect(decide('auto', [{ score: 0.99 }, { score: 0.89 }, { score: 0.95 }], 0.9)).toEqual([
      undefined,
      'low_confidence',
      undefined,
    ]);
    expect(decide('auto', [{ score: Number.NaN }], 0.9)).toEqual(['low_confidence']);
  });
  it('escalates out-of-distribution items whatever their confidence', () => {
    expect(
      decide(
        'auto',
        [
          { score: 0.99, ood: true },
          { score: 0.5, ood: false },
        ],
        0.9,
      ),
    ).toEqual(['out_of_distribution', 'low_confidence']);
  });
  it('reads confidence from the top score, and escalates what the decision rule calls unsure', () => {
    const sureSpam = { label: 'spam', score: 0.97, scores: { ham: 0.03, spam: 0.97 } };
    // A spam-leaning item under the spam cutoff is answered ham with score 0.2: still confident 0.8, but unsure.
    const unsure = { label: 'ham', score: 0.2, scores: { ham: 0.2, spam: 0.8 }, unsure: true };
    const leaning = { label: 'ham', score: 0.2, scores: { ham: 0.2, spam: 0.8 } };
    expect(decide('auto', [sureSpam, unsure, leaning], 0.75)).toEqual([
      undefined,
      'low_confidence',
      undefined,
    ]);
    expect(decide('never', [unsure], 0.75)).toEqual([undefined]);
  });
  it('never escalates on x-escalate: never', () => {
    expect(decide('never', [{ score: 0.5 }, { score: 0.1, ood: true }], 0.9)).toEqual([undefined, undefined]);
  });
});

describe('x-escalate header', () => {
  it.each([
    [undefined, 'auto'],
    ['', 'auto'],
    ['always', 'always'],
    [' Never ', 'never'],
    ['AUTO', 'auto'],
  ])('%s -> %s', (v, mode) => {
    expect(parseEscalateHeader(v)).toBe(mode);
  });
  it('400 invalid_header for anything else', () => {
    expect(() => parseEscalateHeader('sometimes')).toThrow(/x-escalate must be auto, always or never/);
  });
});
