import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { adminTarget } from './admin-client.ts';

describe('adminTarget', () => {
  const dir = mkdtempSync(join(tmpdir(), 'admin-client-'));
  const stack = join(dir, 'local-stack.json');
  writeFileSync(stack, JSON.stringify({ edgeUrl: 'http://stack', adminKey: 'stack-key' }));
  const missing = join(dir, 'none.json');
  const env = { EDGE_URL: 'https://env', EDGE_ADMIN_KEY: 'env-key' };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('takes each of url and key from the arguments, then EDGE_URL/EDGE_ADMIN_KEY, then the local stack', () => {
    const args = ['node', 'cli', '--url', 'https://arg', '--key', 'arg-key'];
    expect(adminTarget(args, env, stack)).toEqual({ url: 'https://arg', key: 'arg-key' });
    expect(adminTarget(['node', 'cli', '--url', 'https://arg'], env, stack)).toEqual({
      url: 'https://arg',
      key: 'env-key',
    });
    expect(adminTarget([], env, stack)).toEqual({ url: 'https://env', key: 'env-key' });
    expect(adminTarget([], { EDGE_URL: 'https://env', EDGE_ADMIN_KEY: '' }, stack)).toEqual({
      url: 'https://env',
      key: 'stack-key',
    });
    expect(adminTarget([], {}, stack)).toEqual({ url: 'http://stack', key: 'stack-key' });
  });

  it('names every way to give the target when none has it', () => {
    expect(() => adminTarget([], { EDGE_URL: 'https://env' }, missing)).toThrow(
      /--url <edge> --key <admin key>, or set EDGE_URL and EDGE_ADMIN_KEY/,
    );
  });
});
