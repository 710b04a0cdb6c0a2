/**
 * `npm run import-model -- --name <model> --teacher <teacher.onnx> --student <student.onnx>
 *    --validation <rows.jsonl> --labels <a,b,...> [--output <name>] [--kind probabilities|score]
 *    [--date YYYY-MM-DD] [--description <text>] [--tolerance 0.002] [--root <models dir>]`
 *
 * Bring your own model: turns an ONNX teacher (origin) and student (edge) plus a labelled validation set
 * (labelled-set.ts documents the JSON-lines format) into a release folder models/<name>/<version>/ (assemble.ts),
 * then prints one JSON line. Exit 2 with every problem listed when the pair or the set is refused.
 */
import { readFile } from 'node:fs/promises';
import { assembleRelease, ImportRefusedError } from './assemble.ts';
import { parseLabelledJsonl } from './labelled-set.ts';
import { onnxSignature } from './signature.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function required(name: string): string {
  const v = arg(name);
  if (v === undefined || v.startsWith('--')) throw new ImportRefusedError([`--${name} is required`]);
  return v;
}

async function main(): Promise<void> {
  const name = required('name');
  const teacher = new Uint8Array(await readFile(required('teacher')));
  const student = new Uint8Array(await readFile(required('student')));
  const labels = required('labels')
    .split(',')
    .map((l) => l.trim())
    .filter(Boolean);
  const kind = arg('kind') ?? 'probabilities';
  if (kind !== 'probabilities' && kind !== 'score') {
    throw new ImportRefusedError([`--kind must be probabilities or score, got ${kind}`]);
  }
  let inputs: ReturnType<typeof onnxSignature>['inputs'];
  try {
    inputs = onnxSignature(teacher, 'the teacher').inputs;
  } catch (err) {
    throw new ImportRefusedError([(err as Error).message]);
  }
  let validation: ReturnType<typeof parseLabelledJsonl>;
  try {
    validation = parseLabelledJsonl(await readFile(required('validation'), 'utf8'), inputs, labels);
  } catch (err) {
    throw new ImportRefusedError([`validation set: ${(err as Error).message}`]);
  }
  const tolerance = arg('tolerance');
  const description = arg('description');
  const output = arg('output');
  const root = arg('root');
  const result = await assembleRelease({
    name,
    labels,
    teacher,
    student,
    validation,
    kind,
    date: arg('date') ?? new Date().toISOString().slice(0, 10),
    source: `imported: ${required('teacher')}, ${required('student')}, validation ${required('validation')}`,
    ...(output === undefined ? {} : { output }),
    ...(description === undefined ? {} : { description }),
    ...(tolerance === undefined ? {} : { tolerance: Number(tolerance) }),
    ...(root === undefined ? {} : { root }),
  });
  console.log(
    JSON.stringify({
      model: name,
      version: result.manifest.version,
      dir: result.dir,
      threshold: result.threshold,
      validation: result.validation,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = err instanceof ImportRefusedError ? 2 : 1;
});
