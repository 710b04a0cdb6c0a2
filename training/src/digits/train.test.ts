import { beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../shared/random/index.ts';
import { type DigitsSet, loadDigits, PIXELS, SIDE, splitDigits, takeRows } from './data.ts';
import { type CnnSpec, createStudent, createTeacher } from './models.ts';
import { useWasmBackend } from './tf-wasm.ts';
import { distillStudent, epochBatches, type FitOptions, shiftImage, trainTeacher } from './train.ts';

describe('shiftImage', () => {
  const src = new Float32Array(PIXELS);
  src[5 * SIDE + 7] = 1; // row 5, column 7
  src[0] = 0.5; // corner

  it('moves pixels by (dx, dy) and fills with zeros', () => {
    const dst = new Float32Array(PIXELS).fill(9);
    shiftImage(dst, src, 2, -1);
    expect(dst[4 * SIDE + 9]).toBe(1);
    expect(dst.reduce((a, b) => a + b, 0)).toBe(1); // the corner pixel left the image
    shiftImage(dst, src, 0, 0);
    expect(dst).toEqual(src);
    shiftImage(dst, src, -3, 2);
    expect(dst[7 * SIDE + 4]).toBe(1);
  });
});

describe('epochBatches', () => {
  const data: DigitsSet = {
    x: Float32Array.from({ length: 10 * PIXELS }, (_, i) => Math.floor(i / PIXELS)),
    y: Uint8Array.from({ length: 10 }, (_, i) => i),
    n: 10,
  };

  it('visits every row once per epoch in a seeded order, last batch short', () => {
    const epoch = (seed: number) => [...epochBatches(data, 4, 0, mulberry32(seed))];
    const batches = epoch(1);
    expect(batches.map((b) => b.rows)).toEqual([4, 4, 2]);
    const labels = batches.flatMap((b) => [...b.y]);
    expect([...labels].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // pixels travel with their label
    for (const b of batches) for (let i = 0; i < b.rows; i++) expect(b.x[i * PIXELS]).toBe(b.y[i]);
    expect(epoch(1).flatMap((b) => [...b.y])).toEqual(labels);
    expect(epoch(2).flatMap((b) => [...b.y])).not.toEqual(labels);
  });
});

describe('training loops (tiny models, a few hundred images)', () => {
  const tiny: CnnSpec = { convs: [{ filters: 4, kernel: 5, padding: 'valid' }], dense: [] };
  const fit: FitOptions = { epochs: 2, batchSize: 32, learningRate: 3e-3, lrDecay: 0.9, shift: 1, seed: 4 };
  let train: DigitsSet;
  let validation: DigitsSet;

  beforeAll(async () => {
    await useWasmBackend();
    const splits = splitDigits(loadDigits(), { train: 0.7, validation: 0.15, seed: 1 });
    train = takeRows(
      splits.train,
      Uint32Array.from({ length: 400 }, (_, i) => i),
    );
    validation = takeRows(
      splits.validation,
      Uint32Array.from({ length: 200 }, (_, i) => i),
    );
  });

  it('trains a CNN teacher reproducibly: same seeds, same weights; loss falls', async () => {
    const run = async () => {
      const model = createTeacher(tiny, 9);
      const stats = await trainTeacher(model, train, validation, fit);
      const weights = model.getWeights().map((w) => Array.from(w.dataSync()));
      model.dispose();
      return { stats, weights };
    };
    const a = await run();
    const b = await run();
    expect(b.weights).toEqual(a.weights);
    expect(a.stats).toHaveLength(2);
    expect(a.stats[1]?.loss).toBeLessThan(a.stats[0]?.loss as number);
    expect(a.stats[1]?.validationAccuracy).toBeGreaterThan(0.5);
  });

  it('distills a student from the teacher and logs a line per epoch', async () => {
    const teacher = createTeacher(tiny, 9);
    await trainTeacher(teacher, train, validation, fit);
    const student = createStudent({ hidden: [16] }, 3);
    const lines: string[] = [];
    const stats = await distillStudent(
      student,
      teacher,
      train,
      validation,
      { ...fit, temperature: 4, alpha: 0.7 },
      (l) => lines.push(l),
    );
    teacher.dispose();
    student.dispose();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^student epoch 1\/2: loss [\d.]+, validation [\d.]+%/);
    expect(stats[1]?.loss).toBeLessThan(stats[0]?.loss as number);
  });

  it('rejects bad options naming the field', async () => {
    const model = createStudent({ hidden: [] }, 1);
    await expect(trainTeacher(model, train, validation, { ...fit, lrDecay: 0 })).rejects.toThrow(/lrDecay/);
    await expect(
      distillStudent(model, model, train, validation, { ...fit, temperature: 0, alpha: 0.5 }),
    ).rejects.toThrow(/temperature/);
    model.dispose();
  });
});
