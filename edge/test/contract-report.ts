// Runs in workerd before each test file: with CONTRACT_REPORT=1 (edge/test/global-setup.ts), prints after the file
// how many answers so far were held to the OpenAPI document (per test isolate: the run's total is the sum of
// each isolate's last line).
import { afterAll, inject } from 'vitest';
import { contractCount } from './workerd/contract.ts';

if (inject('contractReport')) {
  afterAll(() => {
    console.log(
      `contract: ${contractCount.checked} answers held to edge/openapi.json (isolate ${contractCount.isolate})`,
    );
  });
}
