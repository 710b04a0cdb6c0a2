/** A served model version (served-model.ts) and the types the registry builds one from. */
export { ServedModel, type ServedModelOptions } from './served-model.ts';
export type { Featurizer } from './text.ts';
export type { BatchingOptions } from './types.ts';
