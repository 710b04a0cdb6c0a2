/**
 * HTML to text for the featurizer: drops comments, scripts and styles, keeps the visible text (entities decoded),
 * and reports what spam filters care about: tag names, link targets, comment and image counts. Linear in the
 * input whatever it holds (see the scans below); not a conforming HTML parser, and it does not need to be.
 */
import { isAlnum, isLetter, isSpace, isWordChar } from './chars.ts';

export interface HtmlText {
  text: string;
  /** Distinct lowercase tag names, in first-seen order (at most 48). */
  tags: string[];
  /** href/src/action targets, in order (at most 64). */
  links: string[];
  comments: number;
  images: number;
}

const NAMED: Record<string, string> = {
  nbsp: ' ',
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  copy: '\u00a9',
  reg: '\u00ae',
  trade: '\u2122',
  euro: '\u20ac',
  pound: '\u00a3',
  yen: '\u00a5',
  cent: '\u00a2',
  middot: '\u00b7',
  bull: '\u2022',
  hellip: '\u2026',
  mdash: '\u2014',
  ndash: '\u2013',
  laquo: '\u00ab',
  raquo: '\u00bb',
};

const ENTITY = /&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-zA-Z]{2,8});?/g;

/** Decodes HTML character references (numeric ones and a common named set). */
export function decodeEntities(s: string): string {
  if (s.indexOf('&') < 0) return s;
  return s.replace(ENTITY, (m, body: string) => {
    if (body.charCodeAt(0) === 35) {
      const code =
        body[1] === 'x' || body[1] === 'X'
          ? Number.parseInt(body.slice(2), 16)
          : Number.parseInt(body.slice(1), 10);
      if (!Number.isFinite(code) || code <= 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))
        return ' ';
      return String.fromCodePoint(code);
    }
    return NAMED[body.toLowerCase()] ?? m;
  });
}

const COMMENT = /<!--[\s\S]*?(?:-->|$)/g;
const LINK_ATTR = /\b(?:href|src|action|background)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/gi;

// The scans below are hand-written because their regular-expression forms backtrack quadratically on hostile
// text: `<tag[^>]*>` tried at every '<' of a message with no '>' rescans the rest of the message each time (a 32 KB
// run of "<a" took ~0.5 s). Each scan here is linear: a tag can only end at the first '>' after its name, so that
// position is found once per '>' (and when there is none left, no later tag can match at all). They give exactly
// what the regular expressions gave: `<(script|style)\b[^>]*>[\s\S]*?(?:<\/\1\s*>|$)` (case-insensitive) and
// `<\/?([a-zA-Z][a-zA-Z0-9]{0,15})\b([^>]*)>`, each match replaced by one space.

const GT = 62; // >
const SLASH = 47; // /
const UNDERSCORE = 95; // _

/** `s` at `at` spells `lower` (lowercase ASCII) in any ASCII case. */
function spellsAt(s: string, at: number, lower: string): boolean {
  if (at + lower.length > s.length) return false;
  for (let k = 0; k < lower.length; k++) {
    const c = s.charCodeAt(at + k);
    if ((c >= 65 && c <= 90 ? c + 32 : c) !== lower.charCodeAt(k)) return false;
  }
  return true;
}

/** The first '>' at or after `from`, remembered across calls while `from` only grows. */
class NextGt {
  readonly #s: string;
  #at = -2;
  constructor(s: string) {
    this.#s = s;
  }
  from(from: number): number {
    if (this.#at !== -1 && this.#at < from) this.#at = this.#s.indexOf('>', from);
    return this.#at;
  }
}

/** End (exclusive) of the first `</name\s*>` at or after `from`, or -1. */
function closingTagEnd(s: string, from: number, name: string): number {
  for (let j = s.indexOf('</', from); j >= 0; j = s.indexOf('</', j + 2)) {
    if (!spellsAt(s, j + 2, name)) continue;
    let k = j + 2 + name.length;
    while (k < s.length && isSpace(s.charCodeAt(k))) k++;
    if (s.charCodeAt(k) === GT) return k + 1;
  }
  return -1;
}

/** Replaces each script or style element (to its closing tag, or to the end) with one space. */
export function stripScriptsAndStyles(s: string): string {
  const gt = new NextGt(s);
  let out = '';
  let last = 0;
  for (let i = s.indexOf('<'); i >= 0; i = s.indexOf('<', i)) {
    const name = spellsAt(s, i + 1, 'script') ? 'script' : spellsAt(s, i + 1, 'style') ? 'style' : undefined;
    const nameEnd = i + 1 + (name?.length ?? 0);
    if (name === undefined || (nameEnd < s.length && isWordChar(s.charCodeAt(nameEnd)))) {
      i++;
      continue;
    }
    const open = gt.from(nameEnd);
    if (open < 0) break; // no '>' left: no element can open from here on
    const close = closingTagEnd(s, open + 1, name);
    out += `${s.slice(last, i)} `;
    last = i = close < 0 ? s.length : close;
  }
  return last === 0 ? s : out + s.slice(last);
}

/** Replaces each tag with one space, calling `onTag(name, attributes)` for each, in order. */
export function replaceTags(s: string, onTag: (name: string, attrs: string) => void): string {
  const gt = new NextGt(s);
  let out = '';
  let last = 0;
  for (let i = s.indexOf('<'); i >= 0; i = s.indexOf('<', i)) {
    let p = i + 1;
    if (s.charCodeAt(p) === SLASH) p++;
    if (!isLetter(s.charCodeAt(p))) {
      i++;
      continue;
    }
    // The name: a letter and at most 15 more letters or digits, then a word boundary.
    let q = p + 1;
    while (q < s.length && q - p <= 16 && isAlnum(s.charCodeAt(q))) q++;
    if (q - p > 16 || (q < s.length && s.charCodeAt(q) === UNDERSCORE)) {
      i++;
      continue;
    }
    const end = gt.from(q);
    if (end < 0) break; // no '>' left: no tag can match from here on
    onTag(s.slice(p, q), s.slice(q, end));
    out += `${s.slice(last, i)} `;
    last = i = end + 1;
  }
  return last === 0 ? s : out + s.slice(last);
}

export function htmlToText(html: string): HtmlText {
  const out: HtmlText = { text: '', tags: [], links: [], comments: 0, images: 0 };
  const seen = new Set<string>();
  let s = html.replace(COMMENT, () => {
    out.comments++;
    return ' ';
  });
  s = stripScriptsAndStyles(s);
  s = replaceTags(s, (rawName, attrs) => {
    const name = rawName.toLowerCase();
    if (!seen.has(name) && out.tags.length < 48) {
      seen.add(name);
      out.tags.push(name);
    }
    if (name === 'img') out.images++;
    if (attrs.length > 4 && out.links.length < 64) {
      LINK_ATTR.lastIndex = 0;
      for (let m = LINK_ATTR.exec(attrs); m !== null && out.links.length < 64; m = LINK_ATTR.exec(attrs)) {
        const link = m[1] ?? m[2] ?? m[3] ?? '';
        if (link !== '') out.links.push(decodeEntities(link));
      }
    }
  });
  out.text = decodeEntities(s);
  return out;
}
