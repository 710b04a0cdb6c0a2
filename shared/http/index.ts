/**
 * HTTP plumbing both tiers share (runs in workerd and Node): body reading with a size cap and JSON decoding,
 * content-type and request-id parsing, W3C trace context.
 */
export { checkContentLength, parseJsonBody, type ReadBodyOptions, readBody } from './body.ts';
export { mediaType, requestIdFrom } from './headers.ts';
export { formatTraceparent, parseTraceparent, startTrace, type Trace } from './trace.ts';
