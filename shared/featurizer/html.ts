/**
 * HTML to text for the featurizer: drops comments, scripts and styles, keeps the visible text (entities decoded),
 * and reports what spam filters care about: tag names, link targets, comment and image counts. Regex-based and
 * bounded by the caller's character budget; not a conforming HTML parser, and it does not need to be.
 */

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
const SCRIPT_STYLE = /<(script|style)\b[^>]*>[\s\S]*?(?:<\/\1\s*>|$)/gi;
const TAG = /<\/?([a-zA-Z][a-zA-Z0-9]{0,15})\b([^>]*)>/g;
const LINK_ATTR = /\b(?:href|src|action|background)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/gi;

export function htmlToText(html: string): HtmlText {
  const out: HtmlText = { text: '', tags: [], links: [], comments: 0, images: 0 };
  const seen = new Set<string>();
  let s = html.replace(COMMENT, () => {
    out.comments++;
    return ' ';
  });
  s = s.replace(SCRIPT_STYLE, ' ');
  s = s.replace(TAG, (_m, rawName: string, attrs: string) => {
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
    return ' ';
  });
  out.text = decodeEntities(s);
  return out;
}
