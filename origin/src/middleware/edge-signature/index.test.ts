/** Edge signatures over real HTTP: missing, wrong, stale, replayed and tampered requests get 401. */
import { request as httpRequest } from 'node:http';
import { describe, expect, it } from 'vitest';
import { encodeInferRequest } from '../../../../shared/protocol/index.ts';
import { signRequest } from '../../../../shared/signing/index.ts';
import { mlpVersion, rows } from '../../../test/fixtures.ts';
import { useOrigin } from '../../../test/harness.ts';
import { edgeSignature } from './index.ts';

const secret = 'origin-test-signing-secret';
const path = '/v2/models/mlp/infer';
const origin = useOrigin([mlpVersion('mlp', '1', [16, 8, 2])], { signingSecret: secret });

const encoded = encodeInferRequest({
  inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], data: rows(1, 16) }],
  binaryOutput: true,
});
const body = encoded.body as Uint8Array;
const base = {
  'content-type': encoded.contentType,
  'inference-header-content-length': String(encoded.headerLength),
};

async function send(headers: Record<string, string>, payload: Uint8Array = body, target = path) {
  const res = await fetch(`${origin.url}${target}`, {
    method: 'POST',
    body: payload as BodyInit,
    headers: { ...base, ...headers },
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

function expect401(r: { status: number; headers: Headers; text: string }, message: RegExp) {
  expect(r.status).toBe(401);
  expect(r.headers.get('www-authenticate')).toMatch(/HMAC-SHA256/);
  const err = JSON.parse(r.text).error;
  expect(err.code).toBe('unauthorized');
  expect(err.message).toMatch(message);
  expect(err.request_id).toMatch(/\S/);
}

/**
 * POSTs headers and the first bytes of a body that never ends (the connection stays open), and resolves with the
 * response status: a server that waits for the whole body before answering never answers.
 */
function sendUnfinished(headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const url = new URL(`${origin.url}${path}`);
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path,
        method: 'POST',
        headers: { ...base, 'content-length': String(4 * 1024 * 1024), ...headers },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      },
    );
    req.on('error', (err) => {
      if (!req.destroyed) reject(err);
    });
    req.write(new Uint8Array(64 * 1024));
    setTimeout(() => {
      req.destroy();
      reject(new Error('no answer while the body was still arriving: the server waited for the body'));
    }, 5000).unref();
  });
}

describe('what needs a signature', () => {
  it('model metadata and readiness do (the edge proxies them signed); probes, server metadata and /metrics do not', async () => {
    for (const target of ['/v2/models/mlp', '/v2/models/mlp/versions/1', '/v2/models/mlp/ready']) {
      expect((await fetch(`${origin.url}${target}`)).status, target).toBe(401);
      const signed = await signRequest({ secret, method: 'GET', path: target });
      expect((await fetch(`${origin.url}${target}`, { headers: signed })).status, target).toBe(200);
    }
    for (const open of ['/v2/health/live', '/v2/health/ready', '/v2', '/metrics']) {
      expect((await fetch(`${origin.url}${open}`)).status, open).toBe(200);
    }
  });
});

describe('edge signatures', () => {
  it('refuses missing, malformed and stale signature headers before reading the body', async () => {
    expect(await sendUnfinished({})).toBe(401);
    expect(
      await sendUnfinished({ 'x-signature-timestamp': 'soon', 'x-signature-nonce': 'n', 'x-signature': 'x' }),
    ).toBe(401);
    const stale = await signRequest({ secret, method: 'POST', path, body, now: Date.now() - 3_600_000 });
    expect(await sendUnfinished(stale)).toBe(401);
  });

  it('accepts a correctly signed request', async () => {
    const r = await send(await signRequest({ secret, method: 'POST', path, body }));
    expect(r.status).toBe(200);
  });

  it('refuses a missing signature', async () => {
    expect401(await send({}), /missing signature header/);
  });

  it('refuses a wrong signature, a wrong secret and a tampered body or path', async () => {
    const good = await signRequest({ secret, method: 'POST', path, body });
    expect401(await send({ ...good, 'x-signature': 'f'.repeat(64) }), /does not match/);
    expect401(
      await send(await signRequest({ secret: 'some-other-secret-here', method: 'POST', path, body })),
      /does not match/,
    );
    const tampered = body.slice();
    tampered[0] = (tampered[0] as number) ^ 1;
    expect401(
      await send(await signRequest({ secret, method: 'POST', path, body }), tampered),
      /does not match/,
    );
    const signedForOther = await signRequest({
      secret,
      method: 'POST',
      path: '/v2/models/mlp/versions/1/infer',
      body,
    });
    expect401(await send(signedForOther), /does not match/);
    expect401(await send({ ...good, 'x-signature': 'nothex' }), /64 lowercase hex/);
  });

  it('refuses a stale signature', async () => {
    const old = await signRequest({ secret, method: 'POST', path, body, now: Date.now() - 301_000 });
    expect401(await send(old), /outside the 300000 ms replay window/);
    const future = await signRequest({ secret, method: 'POST', path, body, now: Date.now() + 301_000 });
    expect401(await send(future), /replay window/);
  });

  it('refuses a replayed signature', async () => {
    const headers = await signRequest({ secret, method: 'POST', path, body });
    expect((await send(headers)).status).toBe(200);
    expect401(await send(headers), /already used/);
  });

  it('signs the query string too', async () => {
    const target = `${path}?trace=1`;
    expect(
      (await send(await signRequest({ secret, method: 'POST', path: target, body }), body, target)).status,
    ).toBe(200);
    expect401(
      await send(await signRequest({ secret, method: 'POST', path, body }), body, target),
      /does not match/,
    );
  });

  it('requires a secret unless unsigned use is allowed', () => {
    expect(() => edgeSignature({ secret: undefined })).toThrow(/secret is required/);
    expect(() => edgeSignature({ secret: undefined, allowUnsigned: true })).not.toThrow();
  });
});
