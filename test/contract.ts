/**
 * The contract check of the Node-side tests (origin tests, cross-tier e2e): answers held to the committed OpenAPI
 * documents (edge/openapi.json, origin/openapi.json; shared/openapi/contract.ts): `holdTo` for one answer,
 * `holdStackToContract` for every answer from a running stack. An answer that is not what the document says throws,
 * naming the route and the problem.
 */

import { afterAll } from 'vitest';
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

/** Paths served by Workers Static Assets (wrangler.toml [assets]), not by the API the documents describe. */
const STATIC_PREFIXES = ['/console/assets/'];

/** Base URLs whose answers the patched fetch holds to a document (see holdStackToContract). */
const watched = new Map<string, Contract>();
let patched = false;

/**
 * From now on, every answer this process's `fetch` gets from `edgeUrl` or one of `originUrls` (the tests' own calls,
 * the typed client's, the CLIs') is held to the edge's or the origin's document; a mismatch throws from that fetch.
 * Bodies are buffered for the check (a streamed answer arrives whole).
 */
export function holdStackToContract(stack: { edgeUrl: string; originUrls: readonly string[] }): void {
  watched.set(new URL(stack.edgeUrl).origin, edgeContract);
  for (const o of stack.originUrls) watched.set(new URL(o).origin, originContract);
  if (patched) return;
  patched = true;
  if (process.env.CONTRACT_REPORT === '1') {
    afterAll(() => console.log(`contract: ${contractCount.checked} answers held to the OpenAPI documents`));
  }
  const original = globalThis.fetch;
  globalThis.fetch = async function contractFetch(
    input: RequestInfo | URL,
    init?: RequestInit,
  ): Promise<Response> {
    const url = input instanceof Request ? input.url : String(input);
    const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    // Static files (Workers Static Assets: the console's stylesheet and script) are not the API.
    const contract = STATIC_PREFIXES.some((p) => new URL(url).pathname.startsWith(p))
      ? undefined
      : watched.get(new URL(url).origin);
    const res = await original(input, init);
    if (contract === undefined) return res;
    // Bytes handed back as they came (binary tensors); their text is what the check reads.
    const bytes = new Uint8Array(await res.arrayBuffer());
    holdTo(contract, method, url, res, new TextDecoder().decode(bytes));
    return new Response(res.status === 204 || res.status === 304 || method === 'HEAD' ? null : bytes, {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
    });
  };
}
