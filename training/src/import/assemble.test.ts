import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../origin/src/logger.ts';
import { startOriginServer } from '../../../origin/src/server.ts';
import { infer } from '../../../origin/test/client.ts';
import { chooseReleases, renderReleaseModule } from '../../../scripts/edge-release.ts';
import { parseManifest } from '../../../shared/manifest/index.ts';
import { tensorSignature } from '../../../shared/protocol/index.ts';
import { checkRelease } from '../release/registry.ts';
import { assembleRelease, ImportRefusedError } from './assemble.ts';
import {
  LINEAR_LABELS,
  LINEAR_WIDTH,
  linearModel,
  linearProbabilities,
  linearRows,
  STUDENT_W,
  TEACHER_W,
  TRUE_W,
} from './fixtures.ts';
import { parseLabelledJsonl, toLabelledJsonl } from './labelled-set.ts';
import { onnxSignature } from './signature.ts';

const run = promisify(execFile);
const LABELS = LINEAR_LABELS;
const TEACHER = linearModel(TEACHER_W);
const STUDENT = linearModel(STUDENT_W);
const labelledRows = linearRows;

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
    expect(tensorSignature(manifest)?.inputs).toEqual([
      { name: 'x', datatype: 'FP32', shape: [-1, LINEAR_WIDTH] },
    ]);
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
    // And the origin serves it from that folder: the teacher's probabilities over OIP (the edge's side of this
    // path is edge/test/workerd/tensor.test.ts, on a release its globalSetup imports the same way).
    const origin = await startOriginServer(
      { modelRepository: root, executionProvider: 'cpu', maxBatch: 8 },
      { logger: createLogger({ level: 'error' }) },
    );
    try {
      const x = linearRows(3, 9).data[0] as Float32Array;
      const res = await infer(`${origin.url}/v2/models/linear/infer`, [
        { name: 'x', datatype: 'FP32', shape: [3, LINEAR_WIDTH], data: x },
      ]);
      expect(res.status).toBe(200);
      const probs = Array.from(res.response?.outputs[0]?.data as Float32Array);
      for (let r = 0; r < 3; r++) {
        const want = linearProbabilities(TEACHER_W, x.subarray(r * LINEAR_WIDTH, (r + 1) * LINEAR_WIDTH));
        want.forEach((p, j) => {
          expect(probs[r * 3 + j]).toBeCloseTo(p, 5);
        });
      }
    } finally {
      await origin.server.stop();
    }
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
