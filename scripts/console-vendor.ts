/**
 * The console's browser libraries, copied from node_modules into its static assets
 * (edge/console/public/console/assets/vendor/, git-ignored) so Workers Static Assets serves them: no bundler, no
 * CDN. `npm ci` runs it (the `prepare` script); it is idempotent, and scripts/console-vendor.test.ts fails when a
 * copy differs from the installed package.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const VENDOR_DIR = join(ROOT, 'edge/console/public/console/assets/vendor');

/** [file in node_modules, name under vendor/]: uPlot's own minified build (a global `uPlot`) and its stylesheet. */
export const VENDOR_FILES: readonly (readonly [string, string])[] = [
  ['uplot/dist/uPlot.iife.min.js', 'uPlot.iife.min.js'],
  ['uplot/dist/uPlot.min.css', 'uPlot.min.css'],
];

export function copyVendorFiles(): string[] {
  mkdirSync(VENDOR_DIR, { recursive: true });
  return VENDOR_FILES.map(([from, to]) => {
    copyFileSync(join(ROOT, 'node_modules', from), join(VENDOR_DIR, to));
    return to;
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) copyVendorFiles();
