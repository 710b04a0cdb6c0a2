/**
 * Token streams for the featurizer: a bounded sink of 32-bit token hashes, and a text tokenizer that turns words,
 * numbers, URLs, e-mail addresses and symbol runs into hashed unigrams, bigrams and character n-grams.
 */
import { combine, hashRange, hashString } from './hash.ts';

/** A bounded list of token hashes; pushes beyond the capacity are dropped. */
export class Sink {
  readonly buf: Uint32Array;
  n = 0;

  constructor(capacity: number) {
    this.buf = new Uint32Array(capacity);
  }

  get full(): boolean {
    return this.n >= this.buf.length;
  }

  push(h: number): void {
    if (this.n < this.buf.length) this.buf[this.n++] = h;
  }
}

/** A sink that keeps each string token once (for structure tokens such as tag names). */
export class UniqueSink {
  readonly sink: Sink;
  private readonly seen = new Set<number>();
  private readonly seed: number;

  constructor(capacity: number, seed: number) {
    this.sink = new Sink(capacity);
    this.seed = seed;
  }

  reset(): void {
    this.sink.n = 0;
    this.seen.clear();
  }

  add(token: string): void {
    const h = hashString(token, this.seed);
    if (this.seen.has(h)) return;
    this.seen.add(h);
    this.sink.push(h);
  }
}

/** The registrable-ish part of a host: its last two labels, or three under a short second-level (co.uk). */
export function baseDomain(host: string): string {
  const labels = host.split('.').filter((l) => l !== '');
  if (labels.length <= 2) return labels.join('.');
  const tld = labels[labels.length - 1] ?? '';
  const sld = labels[labels.length - 2] ?? '';
  const keep = tld.length === 2 && sld.length <= 3 ? 3 : 2;
  return labels.slice(-keep).join('.');
}

/** Character-class shape of a string: a/A/9 per letter/digit class, other chars kept, runs collapsed. */
export function shapeOf(s: string, max = 12): string {
  let out = '';
  let last = '';
  for (let i = 0; i < s.length && out.length < max; i++) {
    const c = s.charCodeAt(i);
    const k =
      c >= 48 && c <= 57 ? '9' : c >= 97 && c <= 122 ? 'a' : c >= 65 && c <= 90 ? 'A' : c < 128 ? s[i] : 'u';
    if (k !== last) {
      out += k;
      last = k as string;
    }
  }
  return out;
}

const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;
const PATH_WORD = /[a-z][a-z0-9]{2,19}/g;

/** Namespace seeds of one token family (unigrams, bigrams, character n-grams). */
export interface FieldSeeds {
  uni: number;
  bi: number;
  char: number;
}

/** Counters a text tokenizer keeps while it runs (for length/shape tokens). */
export interface TextStats {
  words: number;
  caps: number;
  urls: number;
  emails: number;
  money: number;
  exclaims: number;
}

export function emptyStats(): TextStats {
  return { words: 0, caps: 0, urls: 0, emails: 0, money: 0, exclaims: 0 };
}

export interface FieldOptions {
  seeds: FieldSeeds;
  bigrams: boolean;
  charNgrams: readonly number[];
  dedupe: boolean;
}

// The e-mail branch is only tried where a run of local-part characters starts (the lookbehind), so a long run
// such as `a.a.a.a...` costs one bounded attempt, not one per word (linear, not 64x, on hostile input).
const TOKEN =
  /(https?:\/\/[^\s"'<>()[\]{}]{1,512}|www\.[a-z0-9-]{1,63}\.[^\s"'<>()[\]{}]{1,512})|((?<![\w.%+-])[\w.%+-]{1,64}@[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63}){1,8})|([\p{L}\p{N}]+)|([$\u20ac\u00a3\u00a5!%]+)/giu;

function isDigits(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * Tokenizes text into one sink (a field: subject or body) and its URL/e-mail tokens into a link sink. Keeps the
 * previous token across calls (bigrams span parts of one field) until `resetBigram()`.
 */
export class FieldTokenizer {
  readonly sink: Sink;
  readonly stats: TextStats = emptyStats();
  private readonly opts: FieldOptions;
  private readonly links: Sink;
  private readonly linkSeed: number;
  private readonly seen: Set<number> | null;
  private prev = 0;
  private readonly special: { url: number; email: number; num: number[]; long: number[] };

  constructor(sink: Sink, links: Sink, linkSeed: number, opts: FieldOptions) {
    this.sink = sink;
    this.links = links;
    this.linkSeed = linkSeed;
    this.opts = opts;
    this.seen = opts.dedupe ? new Set<number>() : null;
    const u = opts.seeds.uni;
    this.special = {
      url: hashString('<url>', u),
      email: hashString('<email>', u),
      num: Array.from({ length: 13 }, (_, i) => hashString(`<num${i}>`, u)),
      long: Array.from({ length: 10 }, (_, i) => hashString(`<long${i}>`, u)),
    };
  }

  reset(): void {
    this.sink.n = 0;
    this.prev = 0;
    this.seen?.clear();
    const s = this.stats;
    s.words = s.caps = s.urls = s.emails = s.money = s.exclaims = 0;
  }

  resetBigram(): void {
    this.prev = 0;
  }

  private emit(h: number): void {
    if (this.seen !== null) {
      if (this.seen.has(h)) return;
      this.seen.add(h);
    }
    this.sink.push(h);
  }

  private emitToken(h: number): void {
    this.emit(h);
    if (this.opts.bigrams && this.prev !== 0) this.emit(combine(this.prev, h, this.opts.seeds.bi));
    this.prev = h;
  }

  private link(token: string): void {
    this.links.push(hashString(token, this.linkSeed));
  }

  /** Domain, base domain, TLD and path words of a URL (into the link sink). */
  url(raw: string, inText: boolean): void {
    this.stats.urls++;
    if (inText) this.emitToken(this.special.url);
    if (this.links.full) return;
    let s = raw.toLowerCase();
    if (s.startsWith('mailto:')) {
      this.email(s.slice(7), false);
      return;
    }
    const scheme = s.indexOf('://');
    if (scheme >= 0 && scheme < 12) s = s.slice(scheme + 3);
    let end = s.length;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 47 || c === 63 || c === 35 || c === 92) {
        end = i;
        break;
      }
    }
    let host = s.slice(0, end);
    const at = host.lastIndexOf('@');
    if (at >= 0) {
      this.link('url:userinfo');
      host = host.slice(at + 1);
    }
    const colon = host.indexOf(':');
    if (colon >= 0) {
      this.link('url:port');
      host = host.slice(0, colon);
    }
    while (host.endsWith('.')) host = host.slice(0, -1);
    if (host.indexOf('%') >= 0 || host.indexOf('&') >= 0) this.link('url:encoded');
    if (IPV4.test(host)) {
      this.link('url:ip');
    } else if (host.indexOf('.') > 0) {
      const base = baseDomain(host);
      this.link(`url:h:${host.slice(0, 80)}`);
      this.link(`url:d:${base}`);
      this.link(`url:t:${base.slice(base.lastIndexOf('.') + 1)}`);
    } else {
      this.link('url:nohost');
    }
    const path = s.slice(end);
    PATH_WORD.lastIndex = 0;
    let k = 0;
    for (let m = PATH_WORD.exec(path); m !== null && k < 6; m = PATH_WORD.exec(path), k++)
      this.link(`url:p:${m[0]}`);
  }

  /** Base domain and TLD of an address (into the link sink). */
  email(raw: string, inText: boolean): void {
    this.stats.emails++;
    if (inText) this.emitToken(this.special.email);
    const at = raw.lastIndexOf('@');
    if (at < 0) return;
    const domain = raw
      .slice(at + 1)
      .toLowerCase()
      .replace(/[^a-z0-9.-].*$/, '');
    const base = baseDomain(domain);
    this.link(`mail:d:${base}`);
    this.link(`mail:t:${base.slice(base.lastIndexOf('.') + 1)}`);
  }

  private word(w: string): void {
    const st = this.stats;
    st.words++;
    const len = w.length;
    if (isDigits(w)) {
      this.emitToken(this.special.num[Math.min(len, 12)] as number);
      return;
    }
    if (len > 30) {
      this.emitToken(this.special.long[Math.min(Math.floor(len / 10), 9)] as number);
      return;
    }
    const lower = w.toLowerCase();
    if (len >= 3 && lower !== w && w === w.toUpperCase()) st.caps++;
    this.emitToken(hashString(lower, this.opts.seeds.uni));
    const grams = this.opts.charNgrams;
    if (grams.length > 0 && len >= 3 && len <= 24) {
      const bounded = `<${lower}>`;
      const seed = this.opts.seeds.char;
      for (const n of grams) {
        for (let i = 0; i + n <= bounded.length; i++) this.emit(hashRange(bounded, i, i + n, seed));
      }
    }
  }

  /** Tokenizes `text` into the field until its sink is full. */
  text(text: string): void {
    TOKEN.lastIndex = 0;
    const st = this.stats;
    for (let m = TOKEN.exec(text); m !== null; m = TOKEN.exec(text)) {
      if (this.sink.full) break;
      if (m[3] !== undefined) this.word(m[3]);
      else if (m[1] !== undefined) this.url(m[1], true);
      else if (m[2] !== undefined) this.email(m[2], true);
      else if (m[4] !== undefined) {
        const sym = m[4];
        if (sym.charCodeAt(0) === 33) st.exclaims++;
        else if (sym.charCodeAt(0) !== 37) st.money++;
        this.emitToken(hashString(sym.length > 3 ? sym.slice(0, 3) : sym, this.opts.seeds.uni));
      }
    }
  }
}
