// Runs in Node (the node project) and in workerd (the workerd project includes shared/**/*.test.ts).
import { describe, expect, it } from 'vitest';
import { InferenceError } from '../errors/index.ts';
import { checkContentLength, mediaType, parseJsonBody, readBody, requestIdFrom } from './index.ts';

const enc = new TextEncoder();

function streamOf(parts: string[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const p = parts[i++];
      if (p === undefined) controller.close();
      else controller.enqueue(enc.encode(p));
    },
  });
}

function post(body: BodyInit | null, headers: Record<string, string> = {}): Request {
  return new Request('http://x.test/', { method: 'POST', body, headers, duplex: 'half' } as RequestInit);
}

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return err instanceof InferenceError ? err.code : `not an InferenceError: ${String(err)}`;
  }
  return 'no error';
}

describe('readBody', () => {
  it('reads a streamed body of several chunks whole', async () => {
    const bytes = await readBody(post(streamOf(['{"a":', '1', '}'])), { maxBytes: 100 });
    expect(new TextDecoder().decode(bytes)).toBe('{"a":1}');
  });

  it('reads a body with a declared length', async () => {
    const bytes = await readBody(post('héllo', { 'content-length': '6' }), { maxBytes: 100 });
    expect(new TextDecoder().decode(bytes)).toBe('héllo');
  });

  it('reads an absent body as empty', async () => {
    expect((await readBody(new Request('http://x.test/'), { maxBytes: 10 })).byteLength).toBe(0);
  });

  it('refuses a streamed body past the cap with 413, naming the limit and the setting', async () => {
    const read = readBody(post(streamOf(['x'.repeat(60), 'x'.repeat(60)])), {
      maxBytes: 100,
      setting: 'MAX_BODY',
    });
    await expect(read).rejects.toThrow(/exceeds the limit of 100 bytes \(MAX_BODY\)/);
    expect(await codeOf(readBody(post(streamOf(['x'.repeat(101)])), { maxBytes: 100 }))).toBe(
      'payload_too_large',
    );
  });

  it('accepts a body of exactly the cap', async () => {
    expect((await readBody(post(streamOf(['x'.repeat(100)])), { maxBytes: 100 })).byteLength).toBe(100);
  });
});

describe('checkContentLength', () => {
  it('passes an absent or small declared length', () => {
    expect(() => checkContentLength(undefined, { maxBytes: 10 })).not.toThrow();
    expect(() => checkContentLength(null, { maxBytes: 10 })).not.toThrow();
    expect(() => checkContentLength('10', { maxBytes: 10 })).not.toThrow();
  });
  it.each([['-1'], ['1e3'], [' 5'], ['0x10'], ['1'.repeat(16)], ['']])(
    'refuses content-length %j with 400 invalid_header',
    async (v) => {
      expect(await codeOf(() => checkContentLength(v, { maxBytes: 10 }))).toBe('invalid_header');
    },
  );
  it('refuses a declared length over the cap with 413 before reading', async () => {
    expect(await codeOf(() => checkContentLength('11', { maxBytes: 10 }))).toBe('payload_too_large');
  });
});

describe('parseJsonBody', () => {
  it('parses UTF-8 JSON, unicode and a BOM included', () => {
    expect(parseJsonBody(enc.encode('{"t":"ünï 🙂"}'))).toEqual({ t: 'ünï 🙂' });
    expect(parseJsonBody(new Uint8Array([0xef, 0xbb, 0xbf, ...enc.encode('[1]')]))).toEqual([1]);
  });
  it.each([
    ['empty', new Uint8Array(0)],
    ['malformed', enc.encode('{"t":')],
    ['not UTF-8', new Uint8Array([0x22, 0xff, 0xfe, 0x22])],
    ['NaN', enc.encode('NaN')],
  ])('refuses %s with 400 invalid_json, without echoing the input', async (_name, bytes) => {
    expect(await codeOf(() => parseJsonBody(bytes))).toBe('invalid_json');
    expect(() => parseJsonBody(bytes)).not.toThrow(/\{"t"/);
  });
});

describe('mediaType', () => {
  it.each([
    [undefined, ''],
    [null, ''],
    ['application/json', 'application/json'],
    ['Application/JSON; charset=utf-8', 'application/json'],
    ['  application/octet-stream ;x=1', 'application/octet-stream'],
  ])('%j -> %j', (header, want) => {
    expect(mediaType(header)).toBe(want);
  });
});

describe('requestIdFrom', () => {
  it('keeps a well-formed caller id', () => {
    expect(requestIdFrom('abc-123._:X')).toBe('abc-123._:X');
  });
  it.each([[undefined], [null], [''], ['a b'], ['x'.repeat(129)], ['<script>'], ['é']])(
    'replaces %j with a fresh UUID',
    (v) => {
      expect(requestIdFrom(v)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    },
  );
});
