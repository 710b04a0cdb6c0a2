import { describe, expect, it } from 'vitest';
import { classifyRequest, setup } from './harness.ts';

type ErrorJson = { error: { code: string; message: string; request_id: string } };

async function expectError(res: Response, status: number, code: string): Promise<ErrorJson> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/json');
  const body = (await res.json()) as ErrorJson;
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error.code).toBe(code);
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(body.error.request_id).toBe(res.headers.get('x-request-id'));
  return body;
}

describe('bad inputs get clear 4xx JSON errors, never a 500 (whole app)', () => {
  it.each([
    ['not JSON', '{"text": ', 400, 'invalid_json'],
    ['empty body', '', 400, 'invalid_json'],
    ['a JSON array', '["spam"]', 400, 'invalid_input'],
    ['no text field', '{"message":"x"}', 400, 'invalid_input'],
    ['text and texts', '{"text":"a","texts":["b"]}', 400, 'invalid_input'],
    ['a number as text', '{"text":42}', 400, 'invalid_input'],
    ['an empty texts array', '{"texts":[]}', 400, 'invalid_input'],
    ['a non-string item', '{"texts":["a",null]}', 400, 'invalid_input'],
    ['an unknown field', '{"text":"a","extra":1}', 400, 'invalid_input'],
  ])('%s -> %i %s', async (_name, body, status, code) => {
    const { k, env, t } = await setup();
    await expectError(await t.call(classifyRequest(k.key, body), env), status, code);
  });

  it('invalid UTF-8 -> 400 invalid_json', async () => {
    const { k, env, t } = await setup();
    const req = new Request('https://edge.test/v1/models/spam/classify', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${k.key}` },
      body: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    });
    await expectError(await t.call(req, env), 400, 'invalid_json');
  });

  it('a wrong content type -> 415', async () => {
    const { k, env, t } = await setup();
    await expectError(
      await t.call(classifyRequest(k.key, '{"text":"a"}', { 'content-type': 'text/plain' }), env),
      415,
      'unsupported_media_type',
    );
  });

  it('a body over MAX_BODY_BYTES -> 413 (declared length and streamed length)', async () => {
    const { k, env, t } = await setup({ env: { MAX_BODY_BYTES: '64' } });
    const big = JSON.stringify({ text: 'x'.repeat(200) });
    await expectError(await t.call(classifyRequest(k.key, big), env), 413, 'payload_too_large');
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big));
        controller.close();
      },
    });
    const req = new Request('https://edge.test/v1/models/spam/classify', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${k.key}` },
      body: stream,
    });
    await expectError(await t.call(req, env), 413, 'payload_too_large');
  });

  it.each([
    ['x-escalate', 'sometimes'],
    ['x-deadline-ms', 'soon'],
    ['x-deadline-ms', '0'],
    ['x-deadline-ms', '-5'],
  ])('a bad %s header (%s) -> 400 invalid_header', async (name, value) => {
    const { k, env, t } = await setup();
    await expectError(
      await t.call(classifyRequest(k.key, { text: 'spam' }, { [name]: value }), env),
      400,
      'invalid_header',
    );
  });

  it('an unknown route -> 404 not_found; a wrong method -> 405', async () => {
    const { k, env, t } = await setup();
    await expectError(await t.call(new Request('https://edge.test/nope'), env), 404, 'not_found');
    const get = new Request('https://edge.test/v1/models/spam/classify', {
      headers: { authorization: `Bearer ${k.key}` },
    });
    await expectError(await t.call(get, env), 405, 'method_not_allowed');
    expect(t.lines[0]).toMatchObject({ status: 404, error_code: 'not_found' });
  });
});
