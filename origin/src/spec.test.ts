import { describe, expect, it } from 'vitest';
import type { TensorSpec } from '../../shared/manifest/index.ts';
import type { ValueInfo } from './runner/messages.ts';
import { resolveSpec } from './spec.ts';

const session: ValueInfo[] = [
  { name: 'b', type: 'int32', shape: [-1, 3] },
  { name: 'a', type: 'float32', shape: [-1, -1] },
];

describe('resolveSpec', () => {
  it("takes the session's tensors when the manifest declares none", () => {
    expect(resolveSpec([], session, 'm/1')).toEqual([
      { name: 'b', datatype: 'INT32', shape: [-1, 3] },
      { name: 'a', datatype: 'FP32', shape: [-1, -1] },
    ]);
  });

  it("keeps the session's order with the manifest's more fixed dims", () => {
    const declared: TensorSpec[] = [
      { name: 'a', datatype: 'FP32', shape: [-1, 16] },
      { name: 'b', datatype: 'INT32', shape: [-1, 3] },
    ];
    expect(resolveSpec(declared, session, 'm/1')).toEqual([
      { name: 'b', datatype: 'INT32', shape: [-1, 3] },
      { name: 'a', datatype: 'FP32', shape: [-1, 16] },
    ]);
  });

  it('names the model and the tensor when the manifest disagrees with the session', () => {
    const a: TensorSpec = { name: 'a', datatype: 'FP32', shape: [-1, 16] };
    expect(() => resolveSpec([a], session, 'm/1')).toThrow(
      'm/1: the manifest declares tensors [a] but the model has [a, b]',
    );
    expect(() =>
      resolveSpec(
        [
          { ...a, datatype: 'FP64' },
          { name: 'b', datatype: 'INT32', shape: [-1, 3] },
        ],
        session,
        'm/1',
      ),
    ).toThrow("m/1: tensor 'a' is FP64 [-1,16] in the manifest but FP32 [-1,-1] in the model");
    expect(() => resolveSpec([a, { name: 'b', datatype: 'INT32', shape: [-1, 4] }], session, 'm/1')).toThrow(
      "m/1: tensor 'b' is INT32 [-1,4] in the manifest but INT32 [-1,3] in the model",
    );
  });

  it('refuses a tensor OIP cannot carry', () => {
    expect(() => resolveSpec([], [{ name: 's', type: 'string', shape: [-1] }], 'm/1')).toThrow(
      "m/1: tensor 's' has type string, which OIP cannot carry here",
    );
  });
});
