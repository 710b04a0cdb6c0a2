/**
 * Protocol code both tiers share: Open Inference Protocol v2 (JSON and the binary tensor extension) and the
 * public text API. Runs in workerd and Node.
 */
export * from './codec.ts';
export * from './datatypes.ts';
export * from './limits.ts';
export * from './oip.ts';
export * from './paths.ts';
export * from './tensor.ts';
export * from './text.ts';
export * from './validate.ts';
