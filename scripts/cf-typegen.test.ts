/**
 * edge/worker-configuration.d.ts (the Worker's `Env` and runtime types) is generated from wrangler.toml by
 * `npm run cf-typegen`. This fails when someone edits wrangler.toml (a var, a binding, the compatibility date)
 * without regenerating it, so the edge is never typechecked against a stale `Env`.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);

describe('edge/worker-configuration.d.ts', () => {
  it('is what npm run cf-typegen writes for the current wrangler.toml', async () => {
    const pkg = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as {
      scripts: Record<string, string>;
    };
    const command = pkg.scripts['cf-typegen'];
    expect(command).toMatch(/^wrangler types /);
    const args = (command as string).split(' ').slice(1);
    const wrangler = fileURLToPath(new URL('../node_modules/.bin/wrangler', import.meta.url));
    const result = await run(wrangler, [...args, '--check'], { cwd: ROOT, encoding: 'utf8' }).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (err: { code?: number; stdout?: string; stderr?: string }) => ({
        code: err.code ?? 1,
        out: `${err.stdout ?? ''}${err.stderr ?? ''}`,
      }),
    );
    expect(result.out, 'stale: run npm run cf-typegen').toMatch(/up to date/);
    expect(result.code).toBe(0);
  }, 60_000);
});
