/**
 * Raw e-mail (or plain text) -> fixed-length hashed token ids. The ids of one message are laid out by segment,
 * each bounded, so a long body cannot crowd out the header and subject signals:
 *
 *   [structure + length tokens][header names and values][subject][URL/e-mail domains][body words] [0 padding]
 *
 * Every token is hashed (32-bit, seeded, namespaced per segment) into [1, buckets); 0 is padding.
 */

import { isDigit, isSpace, isUpper, isWordChar } from './chars.ts';
import type { FeaturizerConfig } from './config.ts';
import { hashString } from './hash.ts';
import { htmlToText } from './html.ts';
import { decodeHeaderWords, type Header, looksLikeHtml, splitMessage, walkMime } from './mime.ts';
import { baseDomain, FieldTokenizer, Sink, shapeOf, UniqueSink } from './text.ts';

/**
 * Headers the receiving side adds (delivery, mail-client status, earlier filters' verdicts): corpus collection
 * artefacts, not properties of the message a sender wrote, so they are never features.
 */
const IGNORED_HEADERS = new Set([
  'delivered-to',
  'x-keywords',
  'x-status',
  'status',
  'x-uid',
  'x-uidl',
  'content-length',
  'lines',
  'x-mozilla-status',
  'x-mozilla-status2',
]);

/** Header values kept whole (lowercased) as one token, e.g. `v:x-priority=3 (normal)`. */
const VALUE_HEADERS = new Set([
  'precedence',
  'importance',
  'x-priority',
  'x-msmail-priority',
  'mime-version',
  'content-class',
  'x-mimeole',
  'x-mime-autoconverted',
]);

/** Headers whose address domain is a token, and compared with the From domain. */
const DOMAIN_HEADERS = ['reply-to', 'return-path', 'sender', 'errors-to'];

const META_CAPACITY = 96;

interface Address {
  name: string;
  local: string;
  domain: string;
}

function parseAddress(value: string): Address {
  const angle = /<([^<>]*)>/.exec(value);
  let addr = '';
  let name = value;
  if (angle !== null) {
    addr = angle[1] ?? '';
    name = value.replace(angle[0], ' ');
  } else {
    const bare = bareAddress(value);
    if (bare !== undefined) {
      addr = bare;
      name = value.replace(bare, ' ');
    }
  }
  const at = addr.lastIndexOf('@');
  return {
    name: name.replace(/["()]/g, ' ').trim(),
    local: at >= 0 ? addr.slice(0, at) : addr,
    domain:
      at >= 0
        ? addr
            .slice(at + 1)
            .toLowerCase()
            .replace(/[^a-z0-9.-]/g, '')
        : '',
  };
}

// Header values are attacker-controlled (up to 2 KB each): the scans below are linear. Their regular-expression
// forms (`[^\s<>()"',;]+@[^\s<>()"',;]+`, `[^\s<>]*@[^\s<>]*` and the date's zone pattern) backtracked
// quadratically over long runs without an '@' or over repeated "A (" comments; these give the same results.

const ADDRESS_RUN = /[^\s<>()"',;]+/g;

/** The first run of address characters with an '@' inside it (not at either end), e.g. `a@b.c`; else undefined. */
export function bareAddress(value: string): string | undefined {
  ADDRESS_RUN.lastIndex = 0;
  for (let m = ADDRESS_RUN.exec(value); m !== null; m = ADDRESS_RUN.exec(value)) {
    const at = m[0].indexOf('@', 1);
    if (at > 0 && at < m[0].length - 1) return m[0];
  }
  return undefined;
}

const NON_SPACE_RUN = /[^\s<>]+/g;

/** The value with every run of non-space, non-angle characters that holds an '@' replaced by one space. */
export function withoutAddresses(value: string): string {
  return value.indexOf('@') < 0
    ? value
    : value.replace(NON_SPACE_RUN, (run) => (run.includes('@') ? ' ' : run));
}

/**
 * The zone of a Date header, as `/([+-]\d{4}|\b[A-Z]{1,5})\s*(?:\([^)]*\))?\s*$/.exec(v)?.[1]` finds it: a
 * numeric offset or a short capitalised word, followed only by white space and at most one parenthesised comment.
 */
export function dateZone(v: string): string | undefined {
  const n = v.length;
  // tail[e]: v.slice(e) is white space, an optional "(...)" without ')' inside, and white space.
  const tail = new Uint8Array(n + 1);
  let z = n;
  while (z > 0 && isSpace(v.charCodeAt(z - 1))) z--;
  tail.fill(1, z);
  if (z > 0 && v.charCodeAt(z - 1) === 41) {
    const previousClose = v.lastIndexOf(')', z - 2);
    for (let j = z - 2; j > previousClose; j--) {
      if (v.charCodeAt(j) !== 40) continue;
      tail[j] = 1;
      for (let k = j - 1; k >= 0 && isSpace(v.charCodeAt(k)); k--) tail[k] = 1;
    }
  }
  for (let p = 0; p < n; p++) {
    const c = v.charCodeAt(p);
    if (
      (c === 43 || c === 45) &&
      p + 5 <= n &&
      isDigit(v.charCodeAt(p + 1)) &&
      isDigit(v.charCodeAt(p + 2)) &&
      isDigit(v.charCodeAt(p + 3)) &&
      isDigit(v.charCodeAt(p + 4)) &&
      tail[p + 5] === 1
    ) {
      return v.slice(p, p + 5);
    }
    if (isUpper(c) && (p === 0 || !isWordChar(v.charCodeAt(p - 1)))) {
      let r = 1;
      while (r < 5 && p + r < n && isUpper(v.charCodeAt(p + r))) r++;
      for (let e = p + r; e > p; e--) if (tail[e] === 1) return v.slice(p, e);
    }
  }
  return undefined;
}

function log2Bucket(n: number): number {
  return n <= 0 ? 0 : Math.min(20, Math.floor(Math.log2(n)) + 1);
}

const WORDS = /[\p{L}\p{N}]+/gu;

/** The featurizer engine: builds its sinks once and reuses them (featurize is synchronous, so this is safe). */
export class EmailFeaturizer {
  private readonly cfg: FeaturizerConfig;
  private readonly meta: UniqueSink;
  private readonly headers: UniqueSink;
  private readonly links: Sink;
  private readonly subject: FieldTokenizer;
  private readonly body: FieldTokenizer;
  private utf8: TextDecoder | undefined;

  constructor(cfg: FeaturizerConfig) {
    this.cfg = cfg;
    const seed = cfg.seed;
    const ns = (name: string): number => hashString(name, seed);
    this.meta = new UniqueSink(META_CAPACITY, ns('meta'));
    this.headers = new UniqueSink(cfg.maxHeaderTokens, ns('header'));
    this.links = new Sink(cfg.maxLinkTokens);
    const linkSeed = ns('link');
    this.subject = new FieldTokenizer(new Sink(cfg.maxSubjectTokens), this.links, linkSeed, {
      seeds: { uni: ns('subject'), bi: ns('subject2'), char: ns('subjectc') },
      bigrams: cfg.bigrams,
      charNgrams: cfg.subjectCharNgrams,
      dedupe: false,
    });
    this.body = new FieldTokenizer(new Sink(cfg.maxLength), this.links, linkSeed, {
      seeds: { uni: ns('body'), bi: ns('body2'), char: ns('bodyc') },
      bigrams: cfg.bigrams,
      charNgrams: cfg.bodyCharNgrams,
      dedupe: cfg.dedupeBody,
    });
  }

  /** Writes the ids of one message into `out[offset .. offset + maxLength)` (zero padded). */
  featurizeInto(raw: string | Uint8Array, out: Int32Array, offset: number): void {
    let text: string;
    if (typeof raw === 'string') text = raw;
    else if (raw instanceof Uint8Array) {
      this.utf8 ??= new TextDecoder('utf-8');
      text = this.utf8.decode(
        raw.length > this.cfg.maxInputChars ? raw.subarray(0, this.cfg.maxInputChars) : raw,
      );
    } else {
      throw new TypeError(
        `featurize expects a string or a Uint8Array, got ${raw === null ? 'null' : typeof raw}`,
      );
    }
    if (text.length > this.cfg.maxInputChars) text = text.slice(0, this.cfg.maxInputChars);
    this.meta.reset();
    this.headers.reset();
    this.links.n = 0;
    this.subject.reset();
    this.body.reset();

    const { headers, body } = splitMessage(text);
    if (headers.length === 0) this.meta.add('noheaders');
    else this.headerTokens(headers);

    const walk =
      headers.length > 0
        ? walkMime(headers, body, this.cfg.maxBodyChars)
        : { parts: [{ html: looksLikeHtml(body), text: body.slice(0, this.cfg.maxBodyChars) }], meta: [] };
    for (const m of walk.meta) this.meta.add(m);
    let chars = 0;
    let html = false;
    for (const part of walk.parts) {
      chars += part.text.length;
      this.body.resetBigram();
      if (part.html) {
        html = true;
        const h = htmlToText(part.text);
        this.meta.add(`html:comments:${Math.min(h.comments, 5)}`);
        this.meta.add(`html:images:${Math.min(h.images, 8)}`);
        for (const tag of h.tags) this.meta.add(`tag:${tag}`);
        for (const link of h.links) this.body.url(link, false);
        this.body.text(h.text);
      } else {
        this.body.text(part.text);
      }
    }
    const st = this.body.stats;
    this.meta.add(`len:${log2Bucket(chars)}`);
    this.meta.add(`words:${log2Bucket(st.words)}`);
    this.meta.add(`urls:${Math.min(st.urls, 10)}`);
    this.meta.add(`html:${html}`);
    if (st.words >= 10) this.meta.add(`caps:${Math.min(9, Math.floor((10 * st.caps) / st.words))}`);
    this.meta.add(`money:${Math.min(st.money, 5)}`);
    this.meta.add(`exclaims:${Math.min(st.exclaims, 5)}`);

    const L = this.cfg.maxLength;
    const mod = this.cfg.buckets - 1;
    let k = offset;
    const end = offset + L;
    for (const sink of [this.meta.sink, this.headers.sink, this.subject.sink, this.links, this.body.sink]) {
      const buf = sink.buf;
      for (let i = 0; i < sink.n && k < end; i++) out[k++] = 1 + ((buf[i] as number) % mod);
    }
    out.fill(0, k, end);
  }

  private headerTokens(headers: readonly Header[]): void {
    const hs = this.headers;
    let received = 0;
    let from: Address | undefined;
    let subject: string | undefined;
    const valued: Header[] = [];
    for (const h of headers) {
      const name = h.name;
      if (IGNORED_HEADERS.has(name) || name.startsWith('x-spam')) continue;
      if (name === 'received') received++;
      hs.add(`n:${name.slice(0, 40)}`);
      valued.push(h);
    }
    hs.add(`received:${Math.min(received, 8)}`);
    for (const h of valued) {
      const name = h.name;
      if (name === 'subject' && subject === undefined) {
        subject = decodeHeaderWords(h.value, (cs) => this.meta.add(`hcs:${cs}`));
      } else if (name === 'from' && from === undefined) {
        from = parseAddress(decodeHeaderWords(h.value, (cs) => this.meta.add(`hcs:${cs}`)));
      }
    }
    if (from !== undefined) {
      const base = baseDomain(from.domain);
      hs.add(`from:d:${base}`);
      hs.add(`from:t:${base.slice(base.lastIndexOf('.') + 1)}`);
      hs.add(`from:local:${shapeOf(from.local, 8)}`);
      if (from.name === '') hs.add('from:noname');
      this.words(from.name, 'from:w:', 6);
      this.words(from.local, 'from:lw:', 3);
    } else {
      hs.add('from:none');
    }
    const fromBase = from === undefined ? '' : baseDomain(from.domain);
    for (const h of valued) {
      const name = h.name;
      const v = h.value;
      if (VALUE_HEADERS.has(name)) {
        hs.add(`v:${name}=${v.toLowerCase().replace(/\s+/g, ' ').slice(0, 32)}`);
      } else if (DOMAIN_HEADERS.includes(name)) {
        const base = baseDomain(parseAddress(v).domain);
        hs.add(`${name}:d:${base}`);
        hs.add(`${name}:${base === fromBase ? 'same' : 'differs'}`);
      } else if (name === 'to' || name === 'cc') {
        const count = v === '' ? 0 : v.split(',').length;
        hs.add(`${name}:count:${Math.min(count, 10)}`);
        this.words(withoutAddresses(v), `${name}:w:`, 4);
      } else if (name === 'message-id') {
        const at = v.lastIndexOf('@');
        hs.add(`mid:shape:${shapeOf(v.slice(0, at < 0 ? v.length : at).replace(/^</, ''))}`);
        hs.add(
          at < 0
            ? 'mid:noat'
            : `mid:d:${baseDomain(
                v
                  .slice(at + 1)
                  .replace(/[^a-z0-9.-]/gi, '')
                  .toLowerCase(),
              )}`,
        );
      } else if (name === 'x-mailer' || name === 'user-agent') {
        this.words(v, 'mailer:', 6);
      } else if (name === 'organization') {
        this.words(v, 'org:', 4);
      } else if (name === 'list-id') {
        const m = /<([^<>]*)>/.exec(v);
        hs.add(`list:${baseDomain((m?.[1] ?? v).toLowerCase())}`);
      } else if (name === 'date') {
        hs.add(`date:tz:${dateZone(v) ?? 'none'}`);
      }
    }
    if (subject === undefined) {
      this.meta.add('subject:none');
    } else if (subject.trim() === '') {
      this.meta.add('subject:empty');
    } else {
      this.subject.text(subject);
      const st = this.subject.stats;
      if (st.caps > 0) this.meta.add(`subject:caps:${Math.min(st.caps, 3)}`);
      if (st.exclaims > 0) this.meta.add('subject:exclaims');
    }
  }

  private words(text: string, prefix: string, max: number): void {
    WORDS.lastIndex = 0;
    let k = 0;
    for (let m = WORDS.exec(text); m !== null && k < max; m = WORDS.exec(text), k++) {
      const w = m[0].toLowerCase();
      this.headers.add(`${prefix}${/^\d+$/.test(w) ? `<num${Math.min(w.length, 12)}>` : w.slice(0, 24)}`);
    }
  }
}
