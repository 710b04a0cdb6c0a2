import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { flagName, loadConfig } from './config.ts';

const base = { ORIGIN_ALLOW_UNSIGNED: '1' };
const registry = {
  ...base,
  MODEL_REGISTRY_S3_ENDPOINT: 'https://acct.r2.cloudflarestorage.com',
  MODEL_REGISTRY_ACCESS_KEY_ID: 'key-id-0001',
  MODEL_REGISTRY_SECRET_ACCESS_KEY: 'secret-access-key-0001',
  MODEL_REGISTRY_MODELS: 'spam, digits',
};

function messageOf(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    return (err as Error).message;
  }
  return '';
}

describe('model registry settings', () => {
  it('are off by default, with the documented defaults', () => {
    expect(loadConfig(base)).toMatchObject({
      registryEndpoint: undefined,
      registryBucket: 'models',
      registryRegion: 'auto',
      registryModels: [],
      registryPollSeconds: 30,
      registryCacheDir: join(tmpdir(), 'origin-registry'),
      adminToken: undefined,
    });
  });

  it('reads every variable, and flags mirror them', () => {
    const c = loadConfig(
      {
        ...registry,
        MODEL_REGISTRY_BUCKET: 'releases',
        MODEL_REGISTRY_REGION: 'us-east-1',
        MODEL_REGISTRY_POLL_SECONDS: '0',
        MODEL_REGISTRY_CACHE_DIR: '/var/cache/models',
        ORIGIN_ADMIN_TOKEN: 'admin-token-0123456789',
      },
      ['--model-registry-poll-seconds=2.5'],
    );
    expect(c).toMatchObject({
      registryEndpoint: 'https://acct.r2.cloudflarestorage.com',
      registryBucket: 'releases',
      registryRegion: 'us-east-1',
      registryAccessKeyId: 'key-id-0001',
      registrySecretAccessKey: 'secret-access-key-0001',
      registryModels: ['spam', 'digits'],
      registryPollSeconds: 2.5,
      registryCacheDir: '/var/cache/models',
      adminToken: 'admin-token-0123456789',
    });
    expect(flagName('MODEL_REGISTRY_S3_ENDPOINT')).toBe('--model-registry-s3-endpoint');
    expect(flagName('ORIGIN_ADMIN_TOKEN')).toBe('--admin-token');
  });

  it('takes the AWS variables for the credentials when its own are absent', () => {
    const {
      MODEL_REGISTRY_ACCESS_KEY_ID: _id,
      MODEL_REGISTRY_SECRET_ACCESS_KEY: _secret,
      ...rest
    } = registry;
    const c = loadConfig({ ...rest, AWS_ACCESS_KEY_ID: 'aws-id', AWS_SECRET_ACCESS_KEY: 'aws-secret' });
    expect(c).toMatchObject({ registryAccessKeyId: 'aws-id', registrySecretAccessKey: 'aws-secret' });
    expect(loadConfig({ ...registry, AWS_ACCESS_KEY_ID: 'aws-id' }).registryAccessKeyId).toBe('key-id-0001');
  });

  it('requires the models and both credentials with an endpoint, and an endpoint with models', () => {
    const { MODEL_REGISTRY_SECRET_ACCESS_KEY: _s, MODEL_REGISTRY_MODELS: _m, ...partial } = registry;
    const message = messageOf(() => loadConfig(partial));
    expect(message).toMatch(/MODEL_REGISTRY_MODELS is required with MODEL_REGISTRY_S3_ENDPOINT/);
    expect(message).toMatch(
      /MODEL_REGISTRY_SECRET_ACCESS_KEY \(or AWS_SECRET_ACCESS_KEY\) is required with MODEL_REGISTRY_S3_ENDPOINT/,
    );
    expect(() => loadConfig({ ...base, MODEL_REGISTRY_MODELS: 'spam' })).toThrow(
      /MODEL_REGISTRY_MODELS needs MODEL_REGISTRY_S3_ENDPOINT/,
    );
  });

  it('names the setting and the value of a bad one', () => {
    expect(() => loadConfig({ ...registry, MODEL_REGISTRY_S3_ENDPOINT: 'r2.example.com' })).toThrow(
      /MODEL_REGISTRY_S3_ENDPOINT: expected an http\(s\) URL .*got "r2\.example\.com"/,
    );
    expect(() => loadConfig({ ...registry, MODEL_REGISTRY_BUCKET: 'Models' })).toThrow(
      /MODEL_REGISTRY_BUCKET: expected an S3 bucket name/,
    );
    expect(() => loadConfig({ ...registry, MODEL_REGISTRY_POLL_SECONDS: '-1' })).toThrow(
      /MODEL_REGISTRY_POLL_SECONDS: expected a number of seconds between 0 and 86400, got "-1"/,
    );
    expect(() => loadConfig({ ...registry, MODEL_REGISTRY_MODELS: 'spam,../x' })).toThrow(
      /MODEL_REGISTRY_MODELS: '..\/x' is not a model name/,
    );
    expect(() => loadConfig({ ...registry, MODEL_REGISTRY_MODELS: 'spam,spam' })).toThrow(/listed twice/);
  });

  it('never echoes the secret key or the admin token, only their length', () => {
    const message = messageOf(() =>
      loadConfig({ ...registry, MODEL_REGISTRY_SECRET_ACCESS_KEY: '', ORIGIN_ADMIN_TOKEN: 'tooshort-token' }),
    );
    expect(message).toMatch(/ORIGIN_ADMIN_TOKEN: expected at least 16 characters, got 14 characters/);
    expect(message).not.toContain('tooshort-token');
    const secretMessage = messageOf(() =>
      loadConfig({ ...registry, MODEL_REGISTRY_MODELS: '', MODEL_REGISTRY_ACCESS_KEY_ID: 'key-id-0001' }),
    );
    expect(secretMessage).not.toContain('secret-access-key-0001');
  });
});
