/**
 * The cascade: cache -> edge model -> decide -> origin -> degraded answer. policy.ts decides (route before the
 * edge model, decide after it); answer.ts runs the flow for the routes; types.ts holds the types answer.ts and
 * rollout.ts share.
 */
export {
  type AnswerInput,
  answerRows,
  answerTexts,
  type PassThrough,
  validCachedAnswer,
} from './answer.ts';
export {
  type Decision,
  decide,
  type EscalateMode,
  type EscalationReason,
  parseEscalateHeader,
  type RouteInput,
  route,
} from './policy.ts';
export type { Answer, AnswerDeps, CachedAnswer, CascadeInput } from './types.ts';
