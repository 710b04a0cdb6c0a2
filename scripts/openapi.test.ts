/**
 * The OpenAPI documents (edge/openapi.json, origin/openapi.json) and the client's types generated from them are
 * committed; this fails when the code's schemas or routes changed without `npm run openapi`, so the document the
 * edge serves, the contract tests and the typed client never lag the code.
 */
import { describe, expect, it } from 'vitest';
import { generatedFiles, staleFiles } from './openapi.ts';

describe('npm run openapi', () => {
  it('has written the current documents and client types', async () => {
    expect(await staleFiles(), 'stale: run npm run openapi').toEqual([]);
  }, 60_000);

  it('writes OpenAPI 3.1 documents with the shared error shape', async () => {
    for (const f of (await generatedFiles()).filter((g) => g.path.endsWith('.json'))) {
      const doc = JSON.parse(f.text) as { openapi: string; components: { schemas: Record<string, unknown> } };
      expect(doc.openapi, f.path).toBe('3.1.0');
      expect(Object.keys(doc.components.schemas), f.path).toEqual(
        expect.arrayContaining(['Error', 'ErrorCode']),
      );
    }
  }, 60_000);
});
