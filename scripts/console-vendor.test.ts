import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VENDOR_DIR, VENDOR_FILES } from './console-vendor.ts';

describe("the console's vendored browser files (npm ci's prepare copies them)", () => {
  it.each(VENDOR_FILES)('%s is copied unchanged to vendor/%s', (from, to) => {
    const installed = readFileSync(join(import.meta.dirname, '..', 'node_modules', from));
    expect(readFileSync(join(VENDOR_DIR, to)).equals(installed)).toBe(true);
  });
});
