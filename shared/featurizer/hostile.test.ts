// Runs in Node and in workerd. The linear scans that replaced backtracking regular expressions give exactly what
// those expressions gave: checked against the expressions themselves (kept here as the reference) on the hostile
// inputs, cut to a size the reference can still handle, and on random strings over each scan's alphabet.
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../random/index.ts';
import { bareAddress, dateZone, withoutAddresses } from './featurize.ts';
import { hostileMessages, normalMessage } from './hostile.ts';
import { htmlToText, replaceTags, stripScriptsAndStyles } from './html.ts';
import { createFeaturizer } from './index.ts';

const reference = {
  scripts: (s: string) => s.replace(/<(script|style)\b[^>]*>[\s\S]*?(?:<\/\1\s*>|$)/gi, ' '),
  tags: (s: string) => {
    const seen: string[] = [];
    const text = s.replace(
      /<\/?([a-zA-Z][a-zA-Z0-9]{0,15})\b([^>]*)>/g,
      (_m, name: string, attrs: string) => {
        seen.push(`${name}|${attrs}`);
        return ' ';
      },
    );
    return { text, seen };
  },
  bare: (v: string) => /[^\s<>()"',;]+@[^\s<>()"',;]+/.exec(v)?.[0],
  without: (v: string) => v.replace(/[^\s<>]*@[^\s<>]*/g, ' '),
  zone: (v: string) => /([+-]\d{4}|\b[A-Z]{1,5})\s*(?:\([^)]*\))?\s*$/.exec(v)?.[1],
};

function ours(s: string) {
  const seen: string[] = [];
  const text = replaceTags(s, (name, attrs) => seen.push(`${name}|${attrs}`));
  return { text, seen };
}

function strings(alphabet: string[], count: number, maxParts: number, seed: number): string[] {
  const r = mulberry32(seed);
  return Array.from({ length: count }, () => {
    let s = '';
    const n = Math.floor(r() * maxParts);
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(r() * alphabet.length)];
    return s;
  });
}

const HTML_PARTS = [
  '<',
  '>',
  '/',
  'a',
  'A',
  'b',
  'Z',
  '1',
  '_',
  ' ',
  '\n',
  '\u00a0',
  '"',
  "'",
  '=',
  'script',
  'SCRIPT',
  'Style',
  '</script',
  '</STYLE',
  '</style >',
  '<script>',
  'href="x"',
  'img',
  '<!--',
  '-->',
  'abcdefghijklmnop',
  'q',
];
const ADDRESS_PARTS = [
  'a',
  'B',
  '@',
  '.',
  ' ',
  '\t',
  '<',
  '>',
  '(',
  ')',
  '"',
  "'",
  ',',
  ';',
  '\u2028',
  'x@y',
];
const DATE_PARTS = [
  'A',
  'B',
  'GMT',
  'PST',
  'abc',
  '+0700',
  '-12',
  '0',
  '9',
  ' ',
  '\u3000',
  '(',
  ')',
  '(ICT)',
  '_',
  ',',
  'Thu',
];

describe('linear scans give what the regular expressions gave', () => {
  it.each([
    ['script/style elements', HTML_PARTS, 1],
    ['tags', HTML_PARTS, 2],
  ])('%s, on 3,000 random strings', (what, parts, seed) => {
    for (const s of strings(parts as string[], 3000, 40, seed as number)) {
      if (what === 'tags') expect(ours(s), JSON.stringify(s)).toEqual(reference.tags(s));
      else expect(stripScriptsAndStyles(s), JSON.stringify(s)).toBe(reference.scripts(s));
    }
  });

  it('addresses in header values, on 3,000 random strings', () => {
    for (const v of strings(ADDRESS_PARTS, 3000, 30, 3)) {
      expect(bareAddress(v), JSON.stringify(v)).toBe(reference.bare(v));
      expect(withoutAddresses(v), JSON.stringify(v)).toBe(reference.without(v));
    }
  });

  it('date zones, on 3,000 random strings and real dates', () => {
    for (const v of strings(DATE_PARTS, 3000, 14, 4))
      expect(dateZone(v), JSON.stringify(v)).toBe(reference.zone(v));
    for (const v of [
      'Thu, 22 Aug 2002 18:26:25 +0700 (ICT)',
      'Mon, 2 Sep 2002 10:00:00 -0400',
      'Tue, 03 Sep 2002 09:05:53 GMT',
      'Wed, 4 Sep 2002 1:02:03 EST5EDT',
      '1 Jan 2002 00:00 +0000 (GMT Standard Time)  ',
    ]) {
      expect(dateZone(v), v).toBe(reference.zone(v));
    }
  });

  it('on every hostile input, cut to 2,000 characters', () => {
    for (const { name, text } of hostileMessages(2000)) {
      expect(stripScriptsAndStyles(text), name).toBe(reference.scripts(text));
      expect(ours(text), name).toEqual(reference.tags(text));
      for (const line of text.split('\n')) {
        const value = line.slice(line.indexOf(':') + 1);
        expect(bareAddress(value), name).toBe(reference.bare(value));
        expect(withoutAddresses(value), name).toBe(reference.without(value));
        expect(dateZone(value), name).toBe(reference.zone(value));
      }
    }
  });
});

describe('hostile messages, full size', () => {
  const f = createFeaturizer();

  it.each(hostileMessages().map((h) => [h.name, h.text]))('%s: featurized to valid ids', (_name, text) => {
    const ids = f.featurize(text);
    expect(ids.length).toBe(f.config.maxLength);
    expect(ids.every((id) => id >= 0 && id < f.config.buckets)).toBe(true);
    expect(ids[0]).toBeGreaterThan(0);
  });

  it('unclosed tags stay text: a run of "<a" is words, not 16,000 tags', () => {
    const h = htmlToText('<a'.repeat(16_000));
    expect(h.tags).toEqual([]);
    expect(h.text.length).toBe(32_000);
  });

  it('the body of the normal message of the same length reads as HTML with its link', () => {
    const raw = normalMessage();
    const h = htmlToText(raw.slice(raw.indexOf('\n\n') + 2));
    expect(h.tags).toEqual(['html', 'body', 'p', 'a']);
    expect(h.links[0]).toBe('https://example.com/notes');
  });
});
