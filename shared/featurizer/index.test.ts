import { describe, expect, it } from 'vitest';
import { FEATURIZER_FIXTURES } from './fixtures.ts';
import {
  createFeaturizer,
  DEFAULT_FEATURIZER_CONFIG,
  FEATURIZER_NAME,
  FEATURIZER_VERSION,
  featurizerFromManifest,
  featurizerRef,
} from './index.ts';

const f = createFeaturizer();
const L = f.config.maxLength;

/** Non-padding ids, and a check that padding only trails. */
function used(ids: Int32Array): number[] {
  const out: number[] = [];
  let padded = false;
  for (const id of ids) {
    if (id === 0) padded = true;
    else {
      expect(padded, 'a non-zero id after padding').toBe(false);
      out.push(id);
    }
  }
  return out;
}

function overlap(a: number[], b: number[]): number {
  const s = new Set(a);
  return new Set(b.filter((x) => s.has(x))).size;
}

describe('createFeaturizer: every fixture', () => {
  for (const fx of FEATURIZER_FIXTURES) {
    it(`${fx.name}: fixed length, ids in [1, buckets), padding trails, deterministic`, () => {
      const ids = f.featurize(fx.raw);
      expect(ids).toBeInstanceOf(Int32Array);
      expect(ids.length).toBe(L);
      const u = used(ids);
      expect(u.length).toBeGreaterThan(0);
      for (const id of u) {
        expect(id).toBeGreaterThanOrEqual(1);
        expect(id).toBeLessThan(f.config.buckets);
      }
      expect(createFeaturizer().featurize(fx.raw)).toEqual(ids);
    });
  }

  it('featurizeBatch is the row-major concatenation of featurize', () => {
    const raws = FEATURIZER_FIXTURES.map((x) => x.raw);
    const batch = f.featurizeBatch(raws);
    expect(batch.length).toBe(raws.length * L);
    raws.forEach((raw, i) => {
      expect(batch.subarray(i * L, (i + 1) * L)).toEqual(f.featurize(raw));
    });
    expect(f.featurizeBatch([]).length).toBe(0);
  });

  it('featurizeInto writes at an offset and checks it', () => {
    const out = new Int32Array(3 * L).fill(-1);
    f.featurizeInto('hello world', out, L);
    expect(out.subarray(L, 2 * L)).toEqual(f.featurize('hello world'));
    expect(out[0]).toBe(-1);
    expect(out[2 * L]).toBe(-1);
    expect(() => f.featurizeInto('x', out, 2 * L + 1)).toThrow(/offset/);
  });
});

describe('createFeaturizer: the nasty inputs', () => {
  it('empty body: a message with headers and nothing after the blank line', () => {
    const ids = used(f.featurize('From: a@example.com\nSubject: hello\n\n'));
    expect(ids.length).toBeGreaterThan(3);
    expect(f.featurize('')).not.toEqual(f.featurize('From: a@example.com\nSubject: hello\n\n'));
  });

  it('huge message: bounded time, and only the first maxInputChars count', () => {
    const words = Array.from({ length: 800_000 }, (_, i) => `w${i % 90_000}x`).join(' ');
    const huge = `Subject: big\n\n${words}`;
    expect(huge.length).toBeGreaterThan(6_000_000);
    const t0 = performance.now();
    const ids = f.featurize(huge);
    expect(performance.now() - t0).toBeLessThan(500);
    expect(ids).toEqual(f.featurize(huge.slice(0, f.config.maxInputChars)));
    expect(used(ids).length).toBe(L);
  });

  it('binary garbage and lone surrogates do not throw', () => {
    let s = '';
    for (let i = 0; i < 65536; i++) s += String.fromCharCode((i * 7919) % 65536);
    expect(used(f.featurize(s)).length).toBeGreaterThan(0);
    expect(used(f.featurize('\ud800\udfff\ud800')).length).toBeGreaterThan(0);
  });

  it('invalid UTF-8 bytes are read like TextDecoder reads them (U+FFFD)', () => {
    const bytes = Uint8Array.from([0x68, 0x69, 0x20, 0xff, 0xc3, 0x28, 0x20, 0x6f, 0x6b]);
    const text = new TextDecoder().decode(bytes);
    expect(text).toContain('\ufffd');
    expect(f.featurize(bytes)).toEqual(f.featurize(text));
  });

  it('HTML only: visible words count, markup and scripts do not', () => {
    const html = used(
      f.featurize('<html><body><p>cheap watches&nbsp;today</p><script>var x=1</script></body></html>'),
    );
    const plain = used(f.featurize('cheap watches today'));
    // unigrams (3) and bigrams (2) of the visible words are shared; structure tokens (html, tags) differ
    expect(overlap(html, plain)).toBeGreaterThanOrEqual(5);
    expect(html).not.toEqual(plain);
    expect(html.length).toBeGreaterThan(plain.length);
  });

  it('headers only: the subject and sender still make ids; changing the subject changes them', () => {
    const a = used(f.featurize('From: x@example.com\nSubject: win a prize'));
    const b = used(f.featurize('From: x@example.com\nSubject: meeting notes'));
    expect(a.length).toBeGreaterThan(5);
    expect(a).not.toEqual(b);
    expect(overlap(a, b)).toBeGreaterThan(3);
  });

  it('same words, different case or entity spelling: same ids', () => {
    expect(f.featurize('Free Money')).toEqual(f.featurize('free money'));
    const a = used(f.featurize('<p>free&#32;money</p>'));
    const b = used(f.featurize('<p>free money</p>'));
    expect(a).toEqual(b);
  });

  it('rejects what is not text or bytes', () => {
    expect(() => f.featurize(42 as unknown as string)).toThrow(TypeError);
    expect(() => f.featurize(null as unknown as string)).toThrow(/string or a Uint8Array/);
    expect(() => f.featurizeBatch('abc' as unknown as string[])).toThrow(/array/);
  });
});

describe('configuration', () => {
  it('validates fields, naming field, range and value', () => {
    expect(() => createFeaturizer({ buckets: 1 })).toThrow(
      /config\.buckets must be an integer in \[2, .*got 1/,
    );
    expect(() => createFeaturizer({ maxLength: 0 })).toThrow(/maxLength/);
    expect(() => createFeaturizer({ subjectCharNgrams: [1] })).toThrow(/subjectCharNgrams/);
    expect(() => createFeaturizer({ bigrams: 'yes' as unknown as boolean })).toThrow(
      /bigrams must be a boolean/,
    );
    expect(() => createFeaturizer({ nope: 1 } as never)).toThrow(/nope is not a known field/);
  });

  it('honours buckets and maxLength', () => {
    const small = createFeaturizer({ buckets: 17, maxLength: 8 });
    const ids = small.featurize('one two three four five six seven eight nine ten');
    expect(ids.length).toBe(8);
    for (const id of ids) expect(id >= 1 && id < 17).toBe(true);
  });

  it('round-trips through a manifest entry and refuses another featurizer', () => {
    const ref = featurizerRef();
    expect(ref).toMatchObject({ name: FEATURIZER_NAME, version: FEATURIZER_VERSION });
    expect(ref.config).toEqual({ ...DEFAULT_FEATURIZER_CONFIG });
    const g = featurizerFromManifest(JSON.parse(JSON.stringify(ref)));
    expect(g.featurize('hello')).toEqual(f.featurize('hello'));
    expect(() => featurizerFromManifest({ ...ref, version: '0.0.1' })).toThrow(/0\.0\.1/);
    expect(() => featurizerFromManifest(undefined)).toThrow(/missing/);
  });
});
