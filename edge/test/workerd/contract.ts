/**
 * The contract check of the workerd tests: every answer the app gives a test (through `testApp`) is held to the
 * committed OpenAPI document (edge/openapi.json; shared/openapi/contract.ts): its status documented for the route,
 * the documented headers, the body's schema. An answer that is not what the document says fails the test that got
 * it, naming the route and the problem.
 */
import { Contract } from '../../../shared/openapi/contract.ts';
import document from '../../openapi.json';

export const edgeContract = new Contract(document as unknown as Record<string, unknown>);

/** Answers held to the document so far in this isolate (all test files share it). */
export const contractCount = { checked: 0, isolate: crypto.randomUUID().slice(0, 8) };

export class ContractViolation extends Error {
  constructor(problems: string[]) {
    super(`the answer is not what edge/openapi.json says:\n  ${problems.join('\n  ')}`);
    this.name = 'ContractViolation';
  }
}

/** Throws a ContractViolation when `response` (to `request`) is not what the document says. */
export async function holdToContract(request: Request, response: Response): Promise<void> {
  const body = response.body === null ? '' : await response.clone().text();
  const problems = edgeContract.check({
    method: request.method,
    path: new URL(request.url).pathname,
    status: response.status,
    headers: response.headers,
    body,
  });
  contractCount.checked++;
  if (problems.length > 0) throw new ContractViolation(problems);
}
