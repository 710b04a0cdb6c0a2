import { describe, expect, it } from 'vitest';
import { runFailure } from './run-failure.ts';

describe('runFailure: what an ONNX Runtime failure of one request alone is', () => {
  it.each([
    "Non-zero status code returned while running Gather node. Name:'g' Status Message: indices element out of data bounds, idx=100000 must be within the inclusive range [-256,255]",
    "Non-zero status code returned while running Reshape node. Name:'r' Status Message: The input tensor cannot be reshaped to the requested shape. Input shape:{1,31}, requested shape:{-1,32}",
  ])(
    'the input, when ORT says the input is out of range or the wrong shape: 400 invalid_input (%#)',
    (message) => {
      const err = runFailure(new Error(message));
      expect(err.code).toBe('invalid_input');
      expect(err.message).toMatch(/^the model could not run this input: /);
    },
  );

  it.each([
    'CUDA failure 2: out of memory',
    "Non-zero status code returned while running MatMul node. Name:'m' Status Message: bad allocation",
    'std::bad_alloc',
  ])('a server fault otherwise: 500 internal, seen by the error-rate alert (%#)', (message) => {
    const err = runFailure(new Error(message));
    expect(err.code).toBe('internal');
    expect(err.status).toBe(500);
    expect(err.message).toMatch(/^the model failed to run: /);
  });
});
