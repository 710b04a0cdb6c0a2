/**
 * Trains both digits models with DIGITS_RECIPE, writes teacher.onnx and student.onnx to a directory and prints
 * one JSON line with the test accuracies (tfjs and onnxruntime-node), the student's size and the seconds:
 *
 *   node_modules/.bin/node training/src/digits/try.ts [out-dir, default /tmp/digits-out]
 *
 * A development aid: releases are assembled elsewhere from trainDigitsModels's output.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { trainDigitsModels } from './build.ts';
import { DIGITS_RECIPE } from './recipe.ts';

const outDir = process.argv[2] ?? '/tmp/digits-out';
const result = await trainDigitsModels(DIGITS_RECIPE, (line) => console.error(line));
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'teacher.onnx'), result.teacher);
writeFileSync(join(outDir, 'student.onnx'), result.student);
const pct = (v: number) => Math.round(v * 10_000) / 100;
const { test, parity, quantization, bytes } = result.figures;
console.log(
  JSON.stringify({
    test: {
      teacherTfjs: pct(test.teacherTfjs),
      teacherOrt: pct(test.teacherOrt),
      studentFloatTfjs: pct(test.studentFloatTfjs),
      studentInt8Tfjs: pct(test.studentInt8Tfjs),
      studentOrt: pct(test.studentOrt),
    },
    rows: result.splits.test.n,
    teacherBytes: bytes.teacher,
    studentBytes: bytes.student,
    parity,
    quantization,
    seconds: result.seconds,
    outDir,
  }),
);
