/** Header values both tiers parse the same way: the media type of `content-type`, and request ids. */

/** The media type of a content-type header, lowercased, without parameters; '' when absent. */
export function mediaType(contentType: string | null | undefined): string {
  if (contentType === null || contentType === undefined) return '';
  const semi = contentType.indexOf(';');
  return (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The request id to use: the caller's `x-request-id` when it is 1-128 characters of [A-Za-z0-9._:-] (safe to log
 * and to echo), else a fresh random UUID.
 */
export function requestIdFrom(header: string | null | undefined): string {
  return header !== null && header !== undefined && REQUEST_ID.test(header) ? header : crypto.randomUUID();
}
