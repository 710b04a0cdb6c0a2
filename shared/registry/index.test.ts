// Runs in Node and in workerd (both test projects include shared/**/*.test.ts).
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../hash/index.ts';
import {
  isRegistryName,
  parseIndex,
  RegistryConflictError,
  registryKeys,
  verifiedManifest,
  withEntry,
} from './index.ts';

const manifest = (version: string, created = '2026-12-07T00:00:00Z') => ({
  schema_version: 1,
  name: 'spam',
  version,
  created,
  labels: ['ham', 'spam'],
  artifacts: { teacher: { file: 't.onnx', sha256: 'a'.repeat(64), bytes: 1 } },
  serving: { origin: 'teacher' },
});
const entry = (version: string, created: string, sha = 'b'.repeat(64)) => ({
  version,
  created,
  manifest_sha256: sha,
  published: '2026-12-07T10:00:00Z',
});

describe('registry layout', () => {
  it('keys follow models/{model}/{version}/{file} and refuse names that are not plain segments', () => {
    expect(registryKeys.index('spam')).toBe('spam/index.json');
    expect(registryKeys.manifest('spam', '2026-12-07.abc')).toBe('spam/2026-12-07.abc/manifest.json');
    expect(registryKeys.artifact('spam', 'v1', 'student.onnx')).toBe('spam/v1/student.onnx');
    for (const bad of ['..', '../x', 'a/b', '', '.hidden', 'a b', 'x\u0000']) {
      expect(isRegistryName(bad), bad).toBe(false);
      expect(() => registryKeys.manifest('spam', bad)).toThrow(TypeError);
    }
  });

  it('adds versions in release order, accepts the same manifest again and refuses other bytes', () => {
    let index = withEntry(undefined, 'spam', entry('v2', '2026-12-07T00:00:00Z'));
    index = withEntry(index, 'spam', entry('v1', '2026-12-01T00:00:00Z'));
    expect(index.versions.map((v) => v.version)).toEqual(['v1', 'v2']);
    expect(withEntry(index, 'spam', entry('v1', '2026-12-01T00:00:00Z'))).toBe(index);
    expect(() => withEntry(index, 'spam', entry('v1', '2026-12-01T00:00:00Z', 'c'.repeat(64)))).toThrow(
      RegistryConflictError,
    );
    expect(parseIndex(JSON.parse(JSON.stringify(index)))).toEqual(index);
    expect(() => parseIndex({ schema_version: 1, model: 'spam', versions: [{ version: '../x' }] })).toThrow(
      /not a valid registry index/,
    );
  });

  it('verifies a fetched manifest against the index sha256 and the key it came from', async () => {
    const bytes = new TextEncoder().encode(JSON.stringify(manifest('v1')));
    const sha = await sha256Hex(bytes);
    expect((await verifiedManifest(bytes, 'spam', 'v1', sha)).version).toBe('v1');
    await expect(verifiedManifest(bytes, 'spam', 'v1', 'c'.repeat(64))).rejects.toThrow(/the index says/);
    await expect(verifiedManifest(bytes, 'spam', 'v2')).rejects.toThrow(/names spam\/v1 instead/);
    await expect(verifiedManifest(new TextEncoder().encode('{'), 'spam', 'v1')).rejects.toThrow(/not JSON/);
  });
});
