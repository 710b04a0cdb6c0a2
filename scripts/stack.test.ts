/**
 * The local stack says at once why a component failed to start, instead of waiting out its readiness timeout:
 * real child processes (small node scripts) for the rules, and real wrangler dev refusing a Worker entry that does
 * not export the Durable Object classes wrangler.toml binds (the bench:rollout break of issue #22). Its edges share
 * one tenant store (edge-0's local D1 and KV folders; bench:keys uses it across two edges).
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  freePort,
  launch,
  shareTenantStore,
  startStack,
  startupErrors,
  TENANT_STORE_DIRS,
  waitReady,
} from './stack.ts';

const ROOT = resolve(import.meta.dirname, '..');

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0))
    if (c.exitCode === null && c.pid !== undefined) process.kill(-c.pid, 'SIGKILL');
});

describe('startupErrors', () => {
  it('wrangler: only its ✘ [ERROR] marker (ANSI colours and all), not the offline Request.cf noise', () => {
    const real =
      '\u001b[31m✘ \u001b[41;31m[\u001b[41;97mERROR\u001b[41;31m]\u001b[0m \u001b[1mYour Worker depends on the following Durable Objects, which are not exported in your entrypoint file: JobCoordinator, ReviewQueue.\u001b[0m';
    expect(startupErrors.wrangler(real)).toBe(true);
    expect(startupErrors.wrangler('Error: getaddrinfo ENOTFOUND workers.cloudflare.com')).toBe(false);
    expect(startupErrors.wrangler('[wrangler:info] Ready on http://127.0.0.1:8787')).toBe(false);
    expect(startupErrors.wrangler('▲ [WARNING] something to know')).toBe(false);
  });

  it('node: uncaught errors and pino error/fatal records, not info lines', () => {
    expect(startupErrors.node('TypeError: Cannot read properties of undefined')).toBe(true);
    expect(startupErrors.node("Error [ERR_MODULE_NOT_FOUND]: Cannot find module '/x.ts'")).toBe(true);
    expect(
      startupErrors.node('{"level":60,"time":1,"msg":"origin failed to start","err":"EADDRINUSE"}'),
    ).toBe(true);
    expect(startupErrors.node('{"level":50,"msg":"x"}')).toBe(true);
    expect(startupErrors.node('{"level":30,"msg":"origin listening","errors":0}')).toBe(false);
    expect(startupErrors.node('    at Object.<anonymous> (file.ts:1:1)')).toBe(false);
    expect(startupErrors.node('loading models; no error so far')).toBe(false);
  });
});

describe('waitReady', () => {
  const script = (code: string) => ['-e', code];

  it('fails at once with the first error line of a component that keeps running', async () => {
    const child = launch(
      'edge-x',
      script(
        "console.log('starting'); console.error('✘ [ERROR] the Worker was refused'); setInterval(() => {}, 1000);",
      ),
      {},
      undefined,
      startupErrors.wrangler,
    );
    children.push(child);
    const t0 = Date.now();
    await expect(
      waitReady(`http://127.0.0.1:${await freePort()}/ready`, 'edge-x', child, 60_000),
    ).rejects.toThrow('edge-x failed to start: ✘ [ERROR] the Worker was refused');
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('names the first error line of a component that exited', async () => {
    const child = launch(
      'origin-x',
      script("console.log('loading'); console.error('RangeError: port out of range'); process.exit(1);"),
      {},
      undefined,
    );
    children.push(child);
    await expect(
      waitReady(`http://127.0.0.1:${await freePort()}/ready`, 'origin-x', child, 60_000),
    ).rejects.toThrow(
      /origin-x exited \(code 1, signal null\) before it was ready: RangeError: port out of range/,
    );
  });

  it('shows the last lines of a component that exited without an error line', async () => {
    const child = launch(
      'origin-y',
      script("console.log('config: MODEL_REPOSITORY is empty'); process.exit(2);"),
      {},
      undefined,
    );
    children.push(child);
    await expect(
      waitReady(`http://127.0.0.1:${await freePort()}/ready`, 'origin-y', child, 60_000),
    ).rejects.toThrow(/exited \(code 2.*its last lines:\n {2}config: MODEL_REPOSITORY is empty/s);
  });
});

describe('shareTenantStore', () => {
  it("links a further edge's D1 and KV folders to edge-0's (created when missing), the rest stays its own; idempotent", () => {
    const tmp = mkdtempSync(join(tmpdir(), 'stack-share-'));
    try {
      const [primary, other] = [join(tmp, 'wrangler-state-0'), join(tmp, 'wrangler-state-1')];
      shareTenantStore(primary, other);
      shareTenantStore(primary, other);
      for (const dir of TENANT_STORE_DIRS) expect(existsSync(join(primary, dir))).toBe(true);
      writeFileSync(join(primary, 'v3/d1/db.sqlite'), 'one database');
      expect(readFileSync(join(other, 'v3/d1/db.sqlite'), 'utf8')).toBe('one database');
      mkdirSync(join(other, 'v3/do'), { recursive: true });
      expect(existsSync(join(primary, 'v3/do'))).toBe(false);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('refuses a state folder that already holds a tenant store of its own', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'stack-share-'));
    try {
      mkdirSync(join(tmp, 'wrangler-state-1/v3/d1'), { recursive: true });
      expect(() => shareTenantStore(join(tmp, 'wrangler-state-0'), join(tmp, 'wrangler-state-1'))).toThrow(
        /holds a tenant store of its own/,
      );
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('startStack', () => {
  it('fails fast with wrangler dev’s own reason when the Worker entry misses a Durable Object export', async () => {
    const dir = join(ROOT, '.wrangler', 'stack-test-entry');
    mkdirSync(dir, { recursive: true });
    const entry = join(dir, 'index.ts');
    writeFileSync(entry, "export default { fetch: () => new Response('no Durable Objects exported') };\n");
    const t0 = Date.now();
    try {
      await expect(
        startStack({ origins: 0, sharedState: 'none', edgeEntry: entry, ensureEdgeRelease: false }),
      ).rejects.toThrow(
        /edge-0 failed to start: ✘ \[ERROR\].*not exported in your entrypoint file: JobCoordinator, ReviewQueue/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // wrangler dev says so within seconds; the readiness timeout is 180 s.
    expect(Date.now() - t0).toBeLessThan(60_000);
  });
});
