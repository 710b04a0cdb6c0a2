/**
 * What a failed ONNX Runtime run of one request alone means. Most of what a client can get wrong is refused before
 * the run (validate.ts: names, datatypes, shapes, NaN); what remains input-caused are values a node cannot take
 * (ids outside an embedding table) and shapes the graph cannot reshape, which ORT names in its message. Those are
 * the client's 400; anything else (allocation, device, kernel failures) is the server's 500, where the error-rate
 * alert sees it.
 */
import { InferenceError, InvalidInputError } from '../../../shared/errors/index.ts';

const INPUT_FAULT =
  /out of (?:data )?bounds|indices element|cannot be reshaped|invalid (?:input )?dimensions?/i;

export function runFailure(err: unknown): InferenceError {
  if (err instanceof InferenceError) return err;
  const message = (err instanceof Error ? err.message : String(err)).slice(0, 300);
  return INPUT_FAULT.test(message)
    ? new InvalidInputError(`the model could not run this input: ${message}`)
    : new InferenceError('internal', `the model failed to run: ${message}`, { cause: err });
}
