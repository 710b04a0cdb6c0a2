import { describe, expect, it } from 'vitest';
import { parseManifest } from './index.ts';

const valid = {
  schema_version: 1,
  name: 'spam',
  version: '1',
  created: '2026-11-23T00:00:00Z',
  labels: ['ham', 'spam'],
  artifacts: {
    teacher: {
      file: 'teacher.onnx',
      sha256: 'a'.repeat(64),
      bytes: 10,
      inputs: [{ name: 'ids', datatype: 'INT32', shape: [-1, 512] }],
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 2] }],
    },
  },
  serving: { origin: 'teacher' },
};

describe('parseManifest', () => {
  it('accepts a valid manifest and fills defaults', () => {
    const m = parseManifest(valid);
    expect(m.artifacts.teacher?.format).toBe('onnx');
  });
  it('names the offending field', () => {
    expect(() => parseManifest({ ...valid, labels: [] })).toThrow(/labels/);
    expect(() =>
      parseManifest({ ...valid, artifacts: { teacher: { ...valid.artifacts.teacher, sha256: 'xyz' } } }),
    ).toThrow(/artifacts\.teacher\.sha256/);
  });
  it('rejects a serving role without an artifact and path-like file names', () => {
    expect(() => parseManifest({ ...valid, serving: { origin: 'student' } })).toThrow(/student/);
    expect(() =>
      parseManifest({ ...valid, artifacts: { teacher: { ...valid.artifacts.teacher, file: '../x.onnx' } } }),
    ).toThrow(/file/);
  });
});
