// Runs in Node and in workerd (both test projects include shared/**/*.test.ts).
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../hash/index.ts';
import { type Artifact, checkArtifact, compareReleases, compareVersions, sortReleases } from './index.ts';

describe('compareVersions', () => {
  it('orders version names naturally', () => {
    expect(['10', '2', '1', 'v10', 'v2', '1.10.0', '1.2.0'].sort(compareVersions)).toEqual([
      '1',
      '1.2.0',
      '1.10.0',
      '2',
      '10',
      'v2',
      'v10',
    ]);
  });
});

describe('compareReleases', () => {
  const r = (created: string, version: string) => ({ manifest: { created, version } });

  it('orders by creation instant, then by version name', () => {
    const sorted = sortReleases([
      r('2026-11-24T00:00:00Z', '2026-11-24.aaaa'),
      r('2026-11-23T10:00:00Z', '2026-11-23.ffff'),
      r('2026-11-23T09:00:00Z', '2026-11-23.zzzz'),
      r('2026-11-23T10:00:00Z', '2026-11-23.0000'),
    ]).map((x) => x.manifest.version);
    // Two releases on one day: the later one is newer whatever their names say.
    expect(sorted).toEqual(['2026-11-23.zzzz', '2026-11-23.0000', '2026-11-23.ffff', '2026-11-24.aaaa']);
  });

  it('compares instants, not text, when offsets differ', () => {
    expect(
      compareReleases(
        { created: '2026-11-23T10:00:00+02:00', version: 'b' },
        { created: '2026-11-23T09:00:00Z', version: 'a' },
      ),
    ).toBeLessThan(0);
  });

  it('breaks equal times by natural version order (v2 before v10)', () => {
    const t = '2026-11-23T00:00:00Z';
    expect(sortReleases([r(t, 'v10'), r(t, 'v2')]).map((x) => x.manifest.version)).toEqual(['v2', 'v10']);
  });

  it('falls back to text for creation dates that do not parse', () => {
    expect(compareReleases({ created: 'b', version: '1' }, { created: 'a', version: '2' })).toBeGreaterThan(
      0,
    );
  });
});

describe('checkArtifact', () => {
  const bytes = new TextEncoder().encode('model bytes');
  const artifact = async (over: Partial<Artifact> = {}): Promise<Artifact> => ({
    file: 'student.onnx',
    sha256: await sha256Hex(bytes),
    bytes: bytes.byteLength,
    format: 'onnx',
    inputs: [],
    outputs: [],
    ...over,
  });

  it('passes bytes that match their manifest entry', async () => {
    expect(await checkArtifact(await artifact(), bytes)).toBeUndefined();
  });

  it('names the file, the expected and the found hash and size on a mismatch', async () => {
    const problem = await checkArtifact(await artifact({ sha256: '0'.repeat(64) }), bytes);
    expect(problem).toMatch(
      new RegExp(
        `^student\\.onnx: sha256 ${await sha256Hex(bytes)} \\(11 bytes\\) does not match the manifest's 0{64} \\(11 bytes\\)$`,
      ),
    );
  });

  it('refuses a size mismatch even with the right hash', async () => {
    expect(await checkArtifact(await artifact({ bytes: 12 }), bytes)).toMatch(/\(12 bytes\)$/);
  });
});
