/**
 * The contract check of the Node-side tests (origin tests, cross-tier e2e): answers held to the committed OpenAPI
 * documents (edge/openapi.json, origin/openapi.json; shared/openapi/contract.ts). `checkedFetch` is fetch plus the
 * check: an answer that is not what the document says throws, naming the route and the problem.
 */
import edgeDocument from '../edge/openapi.json' with { type: 'json' };
import originDocument from '../origin/openapi.json' with { type: 'json' };
import { Contract } from '../shared/openapi/contract.ts';

export const edgeContract = new Contract(edgeDocument as unknown as Record<string, unknown>);
export const originContract = new Contract(originDocument as unknown as Record<string, unknown>);

/** Answers held to a document so far in this process. */
export const contractCount = { checked: 0 };

/** Throws when `res` (a buffered answer to `method url`) is not what `contract` says. */
export function holdTo(
  contract: Contract,
  method: string,
  url: string,
  res: { status: number; headers: Headers },
  body: string,
): void {
  const problems = contract.check({
    method,
    path: new URL(url).pathname,
    status: res.status,
    headers: res.headers,
    body,
  });
  contractCount.checked++;
  if (problems.length > 0) {
    throw new Error(`the answer is not what the OpenAPI document says:\n  ${problems.join('\n  ')}`);
  }
}

/**
 * fetch, with the answer held to `contract`; the body is read here and handed back in a new Response (so streams are
 * buffered: not for streaming tests).
 */
export async function checkedFetch(
  contract: Contract,
  url: string,
  init: RequestInit = {},
): Promise<Response> {
  const res = await fetch(url, init);
  const body = await res.text();
  holdTo(contract, init.method ?? 'GET', url, res, body);
  return new Response(res.status === 204 || res.status === 304 ? null : body, {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
}
