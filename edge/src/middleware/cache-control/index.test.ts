import { describe, expect, it } from 'vitest';
import { parseCacheControl } from './index.ts';

describe('parseCacheControl', () => {
  it.each([
    [undefined, undefined, { noCache: false, noStore: false }],
    ['no-cache', undefined, { noCache: true, noStore: false }],
    ['No-Store', undefined, { noCache: false, noStore: true }],
    ['no-cache, no-store', undefined, { noCache: true, noStore: true }],
    ['max-age=0', undefined, { noCache: true, noStore: false }],
    [undefined, 'no-cache', { noCache: true, noStore: false }],
  ])('%s / pragma %s', (cc, pragma, expected) => {
    expect(parseCacheControl(cc, pragma)).toEqual(expected);
  });
});
