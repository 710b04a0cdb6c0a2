import { SimpleError } from 'redis';
import { describe, expect, it } from 'vitest';
import {
  BridgeRequestError,
  encodeReply,
  parseCommand,
  parseCommandList,
  prepareCommand,
} from './protocol.ts';
import { ScriptShaMap, sha1Hex } from './scripts.ts';

describe('parseCommand', () => {
  it('stringifies numbers and booleans', () => {
    expect(parseCommand(['SET', 'k', 1.5, true])).toEqual(['SET', 'k', '1.5', 'true']);
  });

  it.each([
    ['not an array', { cmd: 'GET' }],
    ['an empty array', []],
    ['an object argument', ['SET', 'k', { a: 1 }]],
    ['a null argument', ['SET', 'k', null]],
    ['a non-finite number', ['SET', 'k', Number.NaN]],
  ])('refuses %s with a 400', (_, value) => {
    expect(() => parseCommand(value)).toThrow(BridgeRequestError);
    try {
      parseCommand(value);
    } catch (err) {
      expect((err as BridgeRequestError).status).toBe(400);
      expect((err as Error).message).toMatch(/^ERR /);
    }
  });

  it.each([['subscribe'], ['MULTI'], ['select'], ['BLPOP'], ['flushall']])(
    'refuses %s, which would disturb the shared connection',
    (name) => {
      expect(() => parseCommand([name, 'x'])).toThrow(/not supported by the Upstash bridge/);
    },
  );

  it('refuses a blocking XREAD but not a plain one', () => {
    expect(() => parseCommand(['XREAD', 'BLOCK', '0', 'STREAMS', 's', '$'])).toThrow(/blocking XREAD/);
    expect(parseCommand(['XREAD', 'STREAMS', 's', '0'])).toEqual(['XREAD', 'STREAMS', 's', '0']);
  });
});

describe('parseCommandList', () => {
  it('names the index of the bad command', () => {
    expect(() => parseCommandList([['GET', 'a'], 'GET b'])).toThrow(/command 1 must be/);
    expect(() => parseCommandList([])).toThrow(/non-empty JSON array of commands/);
  });
});

describe('prepareCommand', () => {
  const script = '#!lua flags=allow-key-locking\nreturn 1';

  it('rewrites EVAL scripts and maps EVALSHA to the rewritten SHA1', () => {
    const scripts = new ScriptShaMap();
    expect(prepareCommand(['eval', script, '0'], scripts).args).toEqual(['eval', '\nreturn 1', '0']);
    expect(prepareCommand(['EVALSHA', sha1Hex(script), '0'], scripts).args).toEqual([
      'EVALSHA',
      sha1Hex('\nreturn 1'),
      '0',
    ]);
  });

  it("SCRIPT LOAD answers the client's SHA1 and SCRIPT EXISTS looks up the mapped one", () => {
    const scripts = new ScriptShaMap();
    const load = prepareCommand(['SCRIPT', 'LOAD', script], scripts);
    expect(load.args).toEqual(['SCRIPT', 'LOAD', '\nreturn 1']);
    expect(load.clientSha).toBe(sha1Hex(script));
    expect(prepareCommand(['script', 'exists', sha1Hex(script), 'ff'], scripts).args).toEqual([
      'script',
      'exists',
      sha1Hex('\nreturn 1'),
      'ff',
    ]);
  });

  it('leaves other commands alone', () => {
    expect(prepareCommand(['GET', 'k'], new ScriptShaMap())).toEqual({ args: ['GET', 'k'] });
  });
});

describe('encodeReply', () => {
  it('base64-encodes every string but the OK status reply', () => {
    expect(encodeReply(Buffer.from('bar'), true)).toBe('YmFy');
    expect(encodeReply('OK', true)).toBe('OK');
    expect(encodeReply('PONG', true)).toBe('UE9ORw==');
    expect(encodeReply([Buffer.from('a'), null, 3, [Buffer.from('b')]], true)).toEqual([
      'YQ==',
      null,
      3,
      ['Yg=='],
    ]);
  });

  it('keeps raw bytes exact in base64 and replaces invalid UTF-8 without it', () => {
    const bytes = Buffer.from([0xff, 0x00, 0x41]);
    expect(Buffer.from(encodeReply(bytes, true) as string, 'base64')).toEqual(bytes);
    expect(encodeReply(bytes, false)).toBe('\uFFFD\u0000A');
  });

  it('renders an error nested in an array as its message', () => {
    expect(encodeReply([1, new SimpleError('boom')], false)).toEqual([1, 'boom']);
  });
});
