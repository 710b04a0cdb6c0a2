/** The Hono environment of the origin app: the per-request variables its middleware and routes set. */
export type AppEnv = {
  Variables: {
    requestId: string;
    /** W3C trace id from `traceparent`, when the caller sent one. */
    traceId: string | undefined;
    /** The raw request body (POST routes). */
    body: Uint8Array | undefined;
    /** performance.now() when the request arrived. */
    started: number;
    /** The server is draining: answers carry `connection: close`. */
    closing: boolean;
    /** A handler built its response headers with baseHeaders() (so x-request-id is already in). */
    headersDone: boolean;
    /** The pool this origin belongs to (ORIGIN_POOL_ID), answered as `x-origin-pool`. */
    poolId: string | undefined;
    /** Headers an error answer of this route must carry too (x-queue-depth, x-model-version). */
    errorHeaders: Record<string, string> | undefined;
  };
};
