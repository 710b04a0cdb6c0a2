import { describe, expect, it } from 'vitest';
import { defineConfig, flagName, loadConfig, parseVersionPolicy } from './config.ts';

const secret = { ORIGIN_SIGNING_SECRET: 'sixteen-chars-secret' };

describe('loadConfig', () => {
  it('fills the documented defaults', () => {
    const c = loadConfig(secret);
    expect(c).toMatchObject({
      port: 8000,
      host: '0.0.0.0',
      modelRepository: './models',
      versionPolicy: { kind: 'latest', count: 1 },
      allowUnsigned: false,
      executionProvider: 'auto',
      intraOpThreads: 1,
      workersPerModel: 1,
      maxBatch: 64,
      preferredBatch: [],
      maxQueueDelayMs: 0,
      maxQueue: 1024,
      defaultTimeoutMs: 30_000,
      maxBodyBytes: 8 * 1024 * 1024,
      priorityLevels: 2,
      defaultPriority: 2,
      inlineMaxMs: 0.5,
      echoRoute: false,
      logLevel: 'info',
    });
  });

  it('reads every environment variable', () => {
    const c = loadConfig({
      ORIGIN_PORT: '9000',
      ORIGIN_HOST: '127.0.0.1',
      MODEL_REPOSITORY: '/srv/models',
      MODEL_VERSION_POLICY: 'specific:1,2',
      ORIGIN_ALLOW_UNSIGNED: '1',
      ORIGIN_EXECUTION_PROVIDER: 'cuda',
      ORIGIN_INTRA_OP_THREADS: '4',
      ORIGIN_WORKERS_PER_MODEL: '2',
      ORIGIN_MAX_BATCH: '128',
      ORIGIN_PREFERRED_BATCH: '64, 32,64',
      ORIGIN_MAX_QUEUE_DELAY_MS: '0.5',
      ORIGIN_MAX_QUEUE: '2048',
      ORIGIN_DEFAULT_TIMEOUT_MS: '5000',
      ORIGIN_MAX_BODY_BYTES: '65536',
      ORIGIN_PRIORITY_LEVELS: '3',
      ORIGIN_DEFAULT_PRIORITY: '2',
      ORIGIN_INLINE_MAX_MS: '0',
      ORIGIN_ECHO_ROUTE: 'true',
      LOG_LEVEL: 'warn',
    });
    expect(c).toMatchObject({
      port: 9000,
      host: '127.0.0.1',
      modelRepository: '/srv/models',
      versionPolicy: { kind: 'specific', versions: ['1', '2'] },
      allowUnsigned: true,
      executionProvider: 'cuda',
      intraOpThreads: 4,
      workersPerModel: 2,
      maxBatch: 128,
      preferredBatch: [32, 64],
      maxQueueDelayMs: 0.5,
      maxQueue: 2048,
      defaultTimeoutMs: 5000,
      maxBodyBytes: 65536,
      priorityLevels: 3,
      defaultPriority: 2,
      inlineMaxMs: 0,
      echoRoute: true,
      logLevel: 'warn',
    });
  });

  it('lets flags win over the environment', () => {
    const c = loadConfig({ ...secret, ORIGIN_MAX_BATCH: '8' }, [
      '--max-batch',
      '16',
      '--port=0',
      '--allow-unsigned',
    ]);
    expect(c).toMatchObject({ maxBatch: 16, port: 0, allowUnsigned: true });
    expect(flagName('MODEL_REPOSITORY')).toBe('--model-repository');
    expect(() => loadConfig(secret, ['--nope'])).toThrow(/unknown flag --nope/);
    expect(() => loadConfig(secret, ['--max-batch'])).toThrow(/needs a value/);
  });

  it('takes a version policy per model, with a default for the others', () => {
    expect(
      loadConfig({ ...secret, MODEL_VERSION_POLICY: 'latest:1;spam=latest:2;digits=specific:v1,v2' })
        .versionPolicy,
    ).toEqual({
      kind: 'per-model',
      default: { kind: 'latest', count: 1 },
      models: { spam: { kind: 'latest', count: 2 }, digits: { kind: 'specific', versions: ['v1', 'v2'] } },
    });
  });

  it('names the setting, the expectation and the value in every error', () => {
    expect(() => loadConfig({ ...secret, ORIGIN_MAX_BATCH: 'abc' })).toThrow(
      /ORIGIN_MAX_BATCH: expected an integer between 1 and 4096, got "abc"/,
    );
    expect(() => loadConfig({ ...secret, ORIGIN_PORT: '70000' })).toThrow(/ORIGIN_PORT/);
    expect(() => loadConfig({ ...secret, ORIGIN_EXECUTION_PROVIDER: 'tpu' })).toThrow(
      /ORIGIN_EXECUTION_PROVIDER: expected 'cpu', 'cuda' or 'auto'/,
    );
    expect(() => loadConfig({ ...secret, MODEL_VERSION_POLICY: 'newest' })).toThrow(
      /MODEL_VERSION_POLICY: expected 'latest:N'/,
    );
    expect(() => loadConfig({ ...secret, MODEL_VERSION_POLICY: 'spam=latest:2;spam=all' })).toThrow(
      /MODEL_VERSION_POLICY: model 'spam' is given twice/,
    );
    expect(() => loadConfig({ ...secret, MODEL_VERSION_POLICY: 'Spam!=all' })).toThrow(
      /MODEL_VERSION_POLICY: 'Spam!' is not a model name/,
    );
    expect(() => loadConfig({ ...secret, ORIGIN_PREFERRED_BATCH: '8,x' })).toThrow(/ORIGIN_PREFERRED_BATCH/);
    expect(() => loadConfig({ ...secret, ORIGIN_MAX_BATCH: '8', ORIGIN_PREFERRED_BATCH: '16' })).toThrow(
      /ORIGIN_PREFERRED_BATCH: 16 exceeds maxBatch 8/,
    );
    expect(() => loadConfig({ ...secret, ORIGIN_ALLOW_UNSIGNED: 'maybe' })).toThrow(/ORIGIN_ALLOW_UNSIGNED/);
    expect(() => loadConfig({ ...secret, LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL/);
    expect(() => loadConfig({ ...secret, ORIGIN_INLINE_MAX_MS: '-1' })).toThrow(/ORIGIN_INLINE_MAX_MS/);
    expect(() => loadConfig({ ...secret, ORIGIN_INLINE_MAX_MS: 'fast' })).toThrow(
      /ORIGIN_INLINE_MAX_MS: expected a number of ms >= 0/,
    );
    expect(() =>
      loadConfig({ ...secret, ORIGIN_PRIORITY_LEVELS: '2', ORIGIN_DEFAULT_PRIORITY: '3' }),
    ).toThrow(/ORIGIN_DEFAULT_PRIORITY: 3 exceeds ORIGIN_PRIORITY_LEVELS 2/);
  });

  it('never echoes a secret value in a configuration error, only its length', () => {
    const value = 'hunter2-short';
    let message = '';
    try {
      loadConfig({ ORIGIN_SIGNING_SECRET: value });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/ORIGIN_SIGNING_SECRET: expected at least 16 characters, got 13 characters/);
    expect(message).not.toContain(value);
  });

  it('requires a signing secret unless unsigned use is allowed', () => {
    expect(() => loadConfig({})).toThrow(
      /ORIGIN_SIGNING_SECRET is required \(or set ORIGIN_ALLOW_UNSIGNED=1/,
    );
    expect(() => loadConfig({ ORIGIN_SIGNING_SECRET: 'short' })).toThrow(
      /ORIGIN_SIGNING_SECRET: expected at least 16/,
    );
    expect(loadConfig({ ORIGIN_ALLOW_UNSIGNED: '1' }).signingSecret).toBeUndefined();
  });
});

describe('defineConfig', () => {
  it('validates programmatic configs, naming the field and its variable', () => {
    expect(defineConfig({ allowUnsigned: true, maxBatch: 4 }).maxBatch).toBe(4);
    expect(() => defineConfig({ allowUnsigned: true, maxBatch: 0 })).toThrow(/maxBatch \(ORIGIN_MAX_BATCH\)/);
    expect(() => defineConfig({ allowUnsigned: true, bogus: 1 } as never)).toThrow(
      /unknown setting\(s\) bogus/,
    );
  });
});

describe('parseVersionPolicy', () => {
  it('parses each form', () => {
    expect(parseVersionPolicy('latest:3')).toEqual({ kind: 'latest', count: 3 });
    expect(parseVersionPolicy('latest')).toEqual({ kind: 'latest', count: 1 });
    expect(parseVersionPolicy('all')).toEqual({ kind: 'all' });
    expect(parseVersionPolicy('specific:2026-11-01,v2')).toEqual({
      kind: 'specific',
      versions: ['2026-11-01', 'v2'],
    });
    expect(() => parseVersionPolicy('latest:0')).toThrow();
    expect(() => parseVersionPolicy('specific:../x')).toThrow();
  });
});
