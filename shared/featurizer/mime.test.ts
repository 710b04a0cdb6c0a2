import { describe, expect, it } from 'vitest';
import { htmlToText } from './html.ts';
import {
  decodeBase64,
  decodeBytes,
  decodeHeaderWords,
  decodeQuotedPrintable,
  headerValue,
  parseContentType,
  splitMessage,
  walkMime,
} from './mime.ts';

describe('splitMessage', () => {
  it('skips the mbox From line, unfolds continuation lines, splits at the blank line', () => {
    const m = splitMessage('From a@b  Mon Jan 1 2002\nSubject: one\n two\nFrom: x@y.z\n\nbody\n\nmore');
    expect(m.headers).toEqual([
      { name: 'subject', value: 'one two' },
      { name: 'from', value: 'x@y.z' },
    ]);
    expect(m.body).toBe('body\n\nmore');
  });

  it('handles CRLF, text without headers, headers without a body', () => {
    expect(splitMessage('A: 1\r\nB: 2\r\n\r\nbody').body).toBe('body');
    expect(splitMessage('just some text: with a colon')).toEqual({
      headers: [],
      body: 'just some text: with a colon',
    });
    expect(splitMessage('From the desk of the CEO\nhello')).toEqual({
      headers: [],
      body: 'From the desk of the CEO\nhello',
    });
    const h = splitMessage('Subject: only headers\nTo: a@b.c');
    expect(h.body).toBe('');
    expect(headerValue(h.headers, 'to')).toBe('a@b.c');
    expect(splitMessage('')).toEqual({ headers: [], body: '' });
  });
});

describe('decoders', () => {
  it('quoted-printable: escapes and soft breaks', () => {
    expect(decodeQuotedPrintable('caf=E9 =\nau lait=3D=\r\nyes')).toBe('caf\u00e9 au lait=yes');
    expect(decodeQuotedPrintable('bad =ZZ escape')).toBe('bad =ZZ escape');
  });

  it('base64 is forgiving and never throws', () => {
    expect(decodeBase64('aGVs\nbG8=')).toBe('hello');
    expect(decodeBase64('aGVsbG8*!')).toBe('hello');
    expect(decodeBase64('a')).toBe('');
  });

  it('charsets: UTF-8 with replacement, windows-1252, Latin-1', () => {
    expect(decodeBytes('\xc3\xbc', 'utf-8')).toBe('\u00fc');
    expect(decodeBytes('\xff\x41', 'utf-8')).toBe('\ufffdA');
    expect(decodeBytes('\x93hi\x94', 'windows-1252')).toBe('\u201chi\u201d');
    expect(decodeBytes('\xe9', 'iso-8859-1')).toBe('\u00e9');
    expect(decodeBytes('\xc3\xa9', '')).toBe('\u00e9');
    expect(decodeBytes('\xe9t\xe9', '')).toBe('\u00e9t\u00e9');
  });

  it('RFC 2047 encoded words (B and Q) and their charsets', () => {
    const seen: string[] = [];
    expect(
      decodeHeaderWords('=?utf-8?B?SsO8cmdlbg==?= and =?ISO-8859-1?Q?caf=E9_cr=E8me?=', (c) => seen.push(c)),
    ).toBe('J\u00fcrgen and caf\u00e9 cr\u00e8me');
    expect(seen).toEqual(['utf-8', 'iso-8859-1']);
  });

  it('content types with quoted and bare parameters', () => {
    expect(parseContentType('Multipart/Alternative; boundary="b1"; charset=UTF-8')).toEqual({
      mime: 'multipart/alternative',
      charset: 'utf-8',
      boundary: 'b1',
      name: '',
    });
  });
});

describe('walkMime', () => {
  it('walks nested multiparts, decodes text parts, reports attachments', () => {
    const raw = [
      'Content-Type: multipart/mixed; boundary=out',
      '',
      'preamble',
      '--out',
      'Content-Type: multipart/alternative; boundary=in',
      '',
      '--in',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: base64',
      '',
      'aMOpbGxv',
      '--in',
      'Content-Type: text/html',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      '<b>h=C3=A9llo</b>',
      '--in--',
      '--out',
      'Content-Type: application/zip; name="x.ZIP"',
      '',
      'UEsDBA==',
      '--out--',
    ].join('\n');
    const { headers, body } = splitMessage(raw);
    const w = walkMime(headers, body, 10_000);
    expect(w.parts.map((p) => [p.html, p.text.trim()])).toEqual([
      [false, 'h\u00e9llo'],
      [true, '<b>h\u00e9llo</b>'],
    ]);
    expect(w.meta).toEqual(
      expect.arrayContaining([
        'ct:multipart/mixed',
        'ct:multipart/alternative',
        'cte:base64',
        'cs:utf-8',
        'ext:zip',
      ]),
    );
  });

  it('stops at the character budget', () => {
    const { headers, body } = splitMessage(`Subject: x\n\n${'a'.repeat(1000)}`);
    expect(walkMime(headers, body, 100).parts[0]?.text.length).toBe(100);
  });
});

describe('htmlToText', () => {
  it('keeps visible text, drops scripts, styles and comments, collects tags and links', () => {
    const h = htmlToText(
      '<HTML><style>.x{}</style><!-- a --><!-- b --><p>Buy&nbsp;now &amp; save&#x21;</p><script>evil()</script>' +
        '<a HREF="http://x.example/a?b=1&amp;c=2">go</a><img src=\'http://i.example/p.gif\'>',
    );
    expect(h.text.replace(/\s+/g, ' ').trim()).toBe('Buy now & save! go');
    expect(h.tags).toEqual(['html', 'p', 'a', 'img']);
    expect(h.links).toEqual(['http://x.example/a?b=1&c=2', 'http://i.example/p.gif']);
    expect(h.comments).toBe(2);
    expect(h.images).toBe(1);
  });

  it('survives unterminated comments and scripts', () => {
    expect(htmlToText('<p>ok</p><!-- never closed').text.trim()).toBe('ok');
    expect(htmlToText('<p>ok</p><script>never closed').text.trim()).toBe('ok');
  });
});
