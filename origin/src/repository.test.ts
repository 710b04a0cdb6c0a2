import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mlpVersion } from '../test/fixtures.ts';
import { useRepositories } from '../test/harness.ts';
import { parseVersionPolicy } from './config.ts';
import { discoverModels, verifyArtifacts } from './repository.ts';

const SMALL = [16, 8, 2];
const repo = useRepositories();

describe('discoverModels', () => {
  it('selects versions by policy', async () => {
    const r = await repo(
      mlpVersion('a', '1', SMALL),
      mlpVersion('a', '2', SMALL),
      mlpVersion('a', '10', SMALL),
      mlpVersion('b', '1', SMALL),
    );
    const ids = (found: Awaited<ReturnType<typeof discoverModels>>) =>
      found.map((f) => `${f.name}/${f.version}`);
    expect(ids(await discoverModels(r.root, { kind: 'latest', count: 1 }))).toEqual(['a/10', 'b/1']);
    expect(ids(await discoverModels(r.root, { kind: 'latest', count: 2 }))).toEqual(['a/2', 'a/10', 'b/1']);
    expect(ids(await discoverModels(r.root, { kind: 'all' }))).toEqual(['a/1', 'a/2', 'a/10', 'b/1']);
    expect(ids(await discoverModels(r.root, { kind: 'specific', versions: ['1'] }))).toEqual(['a/1', 'b/1']);
    await expect(discoverModels(r.root, { kind: 'specific', versions: ['2'] })).rejects.toThrow(
      /model 'b' has none of the versions/,
    );
    await expect(discoverModels(r.root, { kind: 'specific', versions: ['1', '7'] })).rejects.toThrow(
      /no model has: 7/,
    );
    // Per model: a rollout's stable and candidate of one model, the latest of the others.
    expect(ids(await discoverModels(r.root, parseVersionPolicy('latest:1;a=latest:2')))).toEqual([
      'a/2',
      'a/10',
      'b/1',
    ]);
    expect(ids(await discoverModels(r.root, parseVersionPolicy('b=all; a=specific:1,10')))).toEqual([
      'a/1',
      'a/10',
      'b/1',
    ]);
  });

  it('names the file of a bad or misplaced manifest, and an empty or missing repository', async () => {
    const r = await repo(mlpVersion('a', '1', SMALL));
    const file = join(r.root, 'a', '1', 'manifest.json');
    const manifest = JSON.parse(await readFile(file, 'utf8'));
    await writeFile(file, JSON.stringify({ ...manifest, version: '2' }));
    await expect(discoverModels(r.root, { kind: 'all' })).rejects.toThrow(
      `${file} names a/2 but sits in a/1`,
    );
    await writeFile(file, JSON.stringify({ ...manifest, labels: [] }));
    await expect(discoverModels(r.root, { kind: 'all' })).rejects.toThrow(
      /manifest\.json is not a valid manifest: labels/,
    );
    await writeFile(file, '{not json');
    await expect(discoverModels(r.root, { kind: 'all' })).rejects.toThrow(/cannot be read as JSON/);
    const empty = await repo();
    await expect(discoverModels(empty.root, { kind: 'all' })).rejects.toThrow(/holds no models/);
    await expect(discoverModels(join(empty.root, 'nope'), { kind: 'all' })).rejects.toThrow(
      /MODEL_REPOSITORY .* cannot be read/,
    );
  });
});

describe('verifyArtifacts', () => {
  it('names the file and the expected hash of a corrupt or missing artifact, the student included', async () => {
    const r = await repo({ ...mlpVersion('a', '1', SMALL), extra: { student: new Uint8Array([1, 2, 3]) } });
    const [found] = await discoverModels(r.root, { kind: 'all' });
    if (found === undefined) throw new Error('no version found');
    expect((await verifyArtifacts(found)).origin.length).toBe(found.manifest.artifacts.model?.bytes);

    const student = join(found.dir, 'student.onnx');
    const expected = found.manifest.artifacts.student?.sha256 as string;
    await writeFile(student, new Uint8Array([1, 2, 4]));
    await expect(verifyArtifacts(found)).rejects.toThrow(
      new RegExp(
        `^artifact ${student}: sha256 [0-9a-f]{64} \\(3 bytes\\) does not match the manifest's ${expected} \\(3 bytes\\)$`,
      ),
    );
    await writeFile(student, new Uint8Array([1, 2, 3, 4]));
    await expect(verifyArtifacts(found)).rejects.toThrow(
      /sha256 [0-9a-f]{64} \(4 bytes\) does not match the manifest's [0-9a-f]{64} \(3 bytes\)/,
    );
    await rm(student);
    await expect(verifyArtifacts(found)).rejects.toThrow(
      `artifact ${student} is missing; the manifest expects sha256 ${expected}`,
    );
  });
});
