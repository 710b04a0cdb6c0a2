/** Why the origin pool gave no usable answer; the edge degrades to its own answer where it can. */
import { InferenceError } from '../../../shared/errors/index.ts';

export type OriginFailureReason =
  | 'no_origins'
  | 'breaker_open'
  | 'origin_error'
  /** The origin refused the edge itself (401/403: wrong signing secret, clock skew): an edge fault. */
  | 'origin_refused'
  | 'origin_overloaded'
  | 'origin_timeout'
  | 'network_error'
  | 'deadline_exceeded'
  /** Cancelled by the edge itself (a hedge that lost the race); never reaches a client. */
  | 'aborted'
  /** No pool in the tenant's allowed regions can serve (residency: never failed over outside them). */
  | 'no_pool_in_region';

/** The pool could not get a usable answer: 503 (or 504 for a spent deadline) with a stable `reason`. */
export class OriginUnavailableError extends InferenceError {
  readonly reason: OriginFailureReason;
  readonly attempts: number;

  constructor(reason: OriginFailureReason, message: string, attempts: number) {
    super(reason === 'deadline_exceeded' ? 'deadline_exceeded' : 'unavailable', message, {
      headers: reason === 'deadline_exceeded' ? {} : { 'Retry-After': '1' },
    });
    this.name = 'OriginUnavailableError';
    this.reason = reason;
    this.attempts = attempts;
  }
}
