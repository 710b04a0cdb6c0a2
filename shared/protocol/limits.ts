/**
 * Limits of one synchronous request, the same on every route of both tiers, checked in one place before any
 * per-item work (featurizing, tensors): a request of 40,000 empty strings is refused, not featurized into
 * 40,000 x 1,024 ids. Larger inputs belong to asynchronous jobs, which have their own limits.
 */
import { InferenceError } from '../errors/index.ts';

/** Most items (texts, or rows along the batch dimension) one synchronous request may carry. */
export const MAX_ITEMS_PER_REQUEST = 256;

/** 413 `payload_too_large` naming the limit when a request carries more items than MAX_ITEMS_PER_REQUEST. */
export function checkItemCount(items: number): void {
  if (items > MAX_ITEMS_PER_REQUEST) {
    throw new InferenceError(
      'payload_too_large',
      `the request holds ${items} items; a synchronous request takes at most ${MAX_ITEMS_PER_REQUEST} (split it)`,
    );
  }
}
