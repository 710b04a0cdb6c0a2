import { describe, expect, inject, it } from 'vitest';
import { createOrtSession, ort } from './ort-wasm.ts';

function fromB64(b64: string): Uint8Array {
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

describe('onnxruntime-web in workerd (real ORT, precompiled wasm module)', () => {
  it('creates a session and runs a batch; fails if an ORT upgrade breaks the loader recipe', async () => {
    const session = await createOrtSession(fromB64(inject('tinyStudentB64')));
    expect(session.inputNames).toEqual(['ids']);
    expect(session.outputNames).toEqual(['probabilities']);
    const ids = new Int32Array([1, 1, 1, 1, 2, 2, 2, 2, 3, 0, 0, 0]);
    const out = await session.run({ ids: new ort.Tensor('int32', ids, [3, 4]) });
    const p = out.probabilities;
    expect(p?.dims).toEqual([3, 2]);
    const d = p?.data as Float32Array;
    expect(d[1]).toBeGreaterThan(0.999); // all spam ids
    expect(d[2]).toBeGreaterThan(0.999); // all ham ids
    expect(d[4]).toBeCloseTo(0.5, 6); // neutral
  });

  it('restores WebAssembly.instantiate after session creation', async () => {
    const before = WebAssembly.instantiate;
    await createOrtSession(fromB64(inject('tinyStudentB64')));
    expect(WebAssembly.instantiate).toBe(before);
  });

  it('rejects bytes that are not a model', async () => {
    await expect(createOrtSession(new Uint8Array([1, 2, 3, 4]))).rejects.toThrow();
  });
});
