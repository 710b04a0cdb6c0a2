import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseReleases, renderReleaseModule } from '../../../scripts/edge-release.ts';
import { parseManifest } from '../../../shared/manifest/index.ts';
import { tensorSignature } from '../../../shared/protocol/index.ts';
import { Rng } from '../model/bag-mlp.ts';
import { buildModel, node, tensor, valueInfo } from '../onnx/builder.ts';
import { checkRelease } from '../release/registry.ts';
import { assembleRelease, ImportRefusedError } from './assemble.ts';
import { type LabelledRows, parseLabelledJsonl, toLabelledJsonl } from './labelled-set.ts';
import { onnxSignature } from './signature.ts';

const run = promisify(execFile);
const LABELS = ['a', 'b', 'c'];
const WIDTH = 4;

/** The rule the generated data follows: class = argmax(x W). */
const TRUE_W = [1, 0, -1, 0, 1, -1, -1, 1, 0.5, 0.5, -0.5, 0];

/** A linear classifier x [batch, width] -> `probabilities` [batch, 3] (Softmax unless `logits`). */
function linearModel(
  w: number[],
  options: { width?: number; output?: string; logits?: boolean } = {},
): Uint8Array {
  const width = options.width ?? WIDTH;
  const output = options.output ?? 'probabilities';
  return buildModel({
    name: 'linear',
    nodes: options.logits
      ? [node('MatMul', ['x', 'W'], [output])]
      : [node('MatMul', ['x', 'W'], ['logits']), node('Softmax', ['logits'], [output], { axis: -1 })],
    initializers: [tensor('W', 'float32', [width, 3], Float32Array.from(w.slice(0, width * 3)))],
    inputs: [valueInfo('x', 'float32', ['batch', width])],
    outputs: [valueInfo(output, 'float32', ['batch', 3])],
  });
}

const TEACHER = linearModel(TRUE_W.map((v) => v * 8));
// The student: the same rule, blurred (lower confidence, some mistakes).
const STUDENT = linearModel(TRUE_W.map((v, i) => v * 2 + (i % 5 === 0 ? 0.6 : -0.2)));

function labelledRows(n: number, seed: number): LabelledRows {
  const rng = new Rng(seed);
  const x = new Float32Array(n * WIDTH);
  const labels = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    const scores = [0, 0, 0];
    for (let d = 0; d < WIDTH; d++) {
      const v = rng.normal();
      x[r * WIDTH + d] = v;
      for (let c = 0; c < 3; c++) scores[c] = (scores[c] as number) + v * (TRUE_W[d * 3 + c] as number);
    }
    labels[r] = scores.indexOf(Math.max(...scores));
  }
  return { rows: n, dims: [[WIDTH]], data: [x], labels };
}

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'import-test-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const base = () => ({
  name: 'linear',
  labels: LABELS,
  teacher: TEACHER,
  student: STUDENT,
  validation: labelledRows(400, 1),
  date: '2026-12-02',
  source: 'generated in assemble.test.ts',
  root,
  log: () => {},
});

describe('bring your own model: assembleRelease', () => {
  it('writes a release both tiers accept: hashes, signature, threshold chosen on validation, test measured after', async () => {
    const result = await assembleRelease({ ...base(), test: labelledRows(300, 2) });
    const manifest = parseManifest(JSON.parse(await readFile(join(result.dir, 'manifest.json'), 'utf8')));
    expect(await checkRelease(result.dir)).toEqual([]);
    expect(manifest).toMatchObject({
      name: 'linear',
      labels: LABELS,
      serving: { origin: 'teacher', edge: 'student' },
      cascade: { output: 'probabilities', kind: 'probabilities' },
      expected_edge_share: result.validation.edge_share,
    });
    expect(tensorSignature(manifest)?.inputs).toEqual([{ name: 'x', datatype: 'FP32', shape: [-1, WIDTH] }]);
    // The teacher is the rule itself; the student is worse; the cascade keeps the teacher's accuracy within the
    // tolerance on validation while the edge answers most rows.
    expect(result.validation.teacher_acc).toBeGreaterThan(0.97);
    expect(result.validation.student_acc).toBeLessThan(result.validation.teacher_acc);
    expect(result.validation.cascade_acc).toBeGreaterThanOrEqual(result.validation.teacher_acc - 0.002);
    expect(result.validation.edge_share).toBeGreaterThan(0.3);
    expect(result.test?.n).toBe(300);
    const evaluation = JSON.parse(await readFile(join(result.dir, 'eval.json'), 'utf8'));
    expect(evaluation.validation.curve.length).toBeGreaterThan(10);
    expect(evaluation.test.cascade_acc).toBe(result.test?.cascade_acc);
    expect(manifest.baseline?.edge?.n).toBe(400);
    expect(await readFile(join(result.dir, 'cascade.svg'), 'utf8')).toMatch(/^<svg/);
    // The next step, npm run edge:release, takes it: checked, and embedded by the generated module.
    const [chosen] = await chooseReleases('linear', undefined, root);
    expect(chosen?.manifest.version).toBe(manifest.version);
    expect(renderReleaseModule(chosen === undefined ? [] : [chosen])).toContain(`linear@${manifest.version}`);
  });

  it('is reproducible: the same inputs give the same version and the same bytes', async () => {
    const a = await assembleRelease(base());
    const manifestA = await readFile(join(a.dir, 'manifest.json'), 'utf8');
    const b = await assembleRelease(base());
    expect(b.dir).toBe(a.dir);
    expect(await readFile(join(b.dir, 'manifest.json'), 'utf8')).toBe(manifestA);
  });

  it('refuses, listing every problem, a pair that does not serve one signature', async () => {
    const refused = async (over: Partial<ReturnType<typeof base>> & Record<string, unknown>) => {
      try {
        await assembleRelease({ ...base(), ...over });
      } catch (err) {
        expect(err).toBeInstanceOf(ImportRefusedError);
        return (err as ImportRefusedError).problems.join('\n');
      }
      throw new Error('not refused');
    };
    expect(await refused({ student: linearModel(TRUE_W, { width: 3 }) })).toMatch(
      /input 'x' is x FP32 \[-1,4\] in the teacher, x FP32 \[-1,3\] in the student/,
    );
    expect(await refused({ student: linearModel(TRUE_W, { output: 'probs' }) })).toMatch(
      /the student has no output 'probabilities' \(outputs: probs\)/,
    );
    expect(await refused({ labels: ['a', 'b'] })).toMatch(
      /must be FP32 \[-1, 2\] for probabilities over 2 labels/,
    );
    expect(await refused({ teacher: linearModel(TRUE_W, { logits: true }) })).toMatch(
      /the teacher's output (is not a probability|rows do not sum to 1)/,
    );
    expect(await refused({ student: new Uint8Array([1, 2, 3, 4]) })).toMatch(
      /the student (is not an ONNX model|has no graph)/,
    );
    expect(await refused({ labels: ['a', 'a', 'b'] })).toMatch(/labels repeat/);
  });
});

describe('the labelled JSON-lines set', () => {
  const inputs = onnxSignature(TEACHER).inputs;

  it('round-trips, nested rows flatten, labels by name or index', () => {
    const rows = labelledRows(5, 3);
    const back = parseLabelledJsonl(toLabelledJsonl(rows, inputs, LABELS), inputs, LABELS);
    expect(Array.from(back.labels)).toEqual(Array.from(rows.labels));
    expect(Array.from(back.data[0] as Float32Array)).toEqual(Array.from(rows.data[0] as Float32Array));
    const nested = parseLabelledJsonl('{"inputs":{"x":[[1,2],[3,4]]},"label":2}\n\n', inputs, LABELS);
    expect(Array.from(nested.data[0] as Float32Array)).toEqual([1, 2, 3, 4]);
  });

  it('names the line and the problem', () => {
    const bad = (line: string) => () =>
      parseLabelledJsonl(`{"inputs":{"x":[1,2,3,4]},"label":"a"}\n${line}`, inputs, LABELS);
    expect(bad('{"inputs":{"x":[1,2,3]},"label":"a"}')).toThrow(
      /line 2: input 'x' has 3 values, a row of \[4\] has 4/,
    );
    expect(bad('{"inputs":{"x":[1,2,3,4]},"label":"z"}')).toThrow(/line 2: label "z" is not one of a, b, c/);
    expect(bad('{"inputs":{"x":[1,2,"3",4]},"label":"a"}')).toThrow(
      /line 2: input 'x' value 2: "3" is not a finite number/,
    );
    expect(bad('{"inputs":{},"label":"a"}')).toThrow(/line 2: input 'x' is missing/);
    expect(bad('{"inputs":')).toThrow(/line 2: not JSON/);
    expect(() => parseLabelledJsonl('\n \n', inputs, LABELS)).toThrow(/empty/);
  });
});

describe('npm run import-model (the command)', () => {
  it('writes the release and prints one JSON line; exits 2 listing the problems when refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'import-cli-'));
    try {
      await writeFile(join(dir, 't.onnx'), TEACHER);
      await writeFile(join(dir, 's.onnx'), STUDENT);
      await writeFile(join(dir, 'bad.onnx'), linearModel(TRUE_W, { width: 3 }));
      await writeFile(
        join(dir, 'v.jsonl'),
        toLabelledJsonl(labelledRows(200, 4), onnxSignature(TEACHER).inputs, LABELS),
      );
      const cli = new URL('./cli.ts', import.meta.url).pathname;
      const args = (student: string) => [
        cli,
        '--name',
        'linear',
        '--teacher',
        join(dir, 't.onnx'),
        '--student',
        join(dir, student),
        '--validation',
        join(dir, 'v.jsonl'),
        '--labels',
        'a,b,c',
        '--date',
        '2026-12-02',
        '--root',
        join(dir, 'models'),
      ];
      const ok = await run(process.execPath, args('s.onnx'));
      const line = JSON.parse(ok.stdout.trim().split('\n').at(-1) as string);
      expect(line).toMatchObject({
        model: 'linear',
        version: expect.stringMatching(/^2026-12-02\.[0-9a-f]{10}$/),
      });
      expect(await checkRelease(line.dir)).toEqual([]);
      const failed = await run(process.execPath, args('bad.onnx')).then(
        () => undefined,
        (err: { code: number; stderr: string }) => err,
      );
      expect(failed?.code).toBe(2);
      expect(failed?.stderr).toMatch(
        /refusing the import:\n {2}- input 'x' is x FP32 \[-1,4\] in the teacher/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
