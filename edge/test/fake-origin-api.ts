/**
 * What the loopback fake origins (node/fake-origins.ts, in Node) and the workerd tests (workerd/harness.ts) say to
 * each other over HTTP: the behaviour script a test sets and the requests an origin records. Types only, so both
 * sides (Node and workerd) can import it.
 */

export interface Behaviour {
  /** Response status. @default 200 */
  status?: number;
  /** Wait before answering, ms. @default 0 */
  delayMs?: number;
  /** Sent as `x-queue-depth`. @default not sent */
  queueDepth?: number;
  /** Sent as `Server-Timing: compute;dur=<ms>` (the model run time the edge meters). @default not sent */
  computeMs?: number;
  /** Drop the connection without answering. @default false */
  drop?: boolean;
  /**
   * Response body; default: a classify answer (texts containing "spam" are spam, 0.97; "unsure" ham at 0.6;
   * "strange" out of distribution).
   */
  body?: unknown;
}

export interface LoggedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  /** 'ok' or the verifier's failure reason. */
  signature: string;
  at: number;
  /** The edge closed the connection before this origin answered (a cancelled hedge or attempt). */
  aborted?: boolean;
}
