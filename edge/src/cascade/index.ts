/**
 * The cascade: cache -> edge model -> decide -> origin -> degraded answer. policy.ts decides (route before the
 * edge model, decide after it); answer.ts runs the flow for the routes.
 */
export {
  type Answer,
  type AnswerDeps,
  type AnswerInput,
  answerRows,
  answerTexts,
  type CachedAnswer,
  type CascadeInput,
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
