/**
 * Just enough RFC 5322 / MIME to featurize an e-mail: header split and unfolding, multipart walking,
 * quoted-printable and base64 transfer decoding, RFC 2047 encoded words and a few charsets. Text that is not an
 * e-mail (no header block) is treated as a plain body. Everything is bounded (header count, part count, depth,
 * characters) so hostile input costs little. Web APIs only (atob, TextDecoder): runs in workerd and Node.
 */

export interface Header {
  /** Lowercased field name. */
  name: string;
  /** Unfolded value, trimmed. */
  value: string;
}

export interface SplitMessage {
  headers: Header[];
  body: string;
}

const MAX_HEADERS = 256;
const MAX_HEADER_VALUE = 2048;
const MAX_HEADER_BLOCK = 65536;

function isHeaderName(s: string, start: number, end: number): boolean {
  if (end - start > 76) return false;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < 33 || c > 126 || c === 58) return false;
  }
  return true;
}

/**
 * Splits a raw message into its header block and body. A leading mbox `From ` line is skipped. Input whose first
 * line is not a header is all body; a message without a blank line after its headers has an empty body.
 */
export function splitMessage(raw: string): SplitMessage {
  const headers: Header[] = [];
  let current: Header | null = null;
  let pos = 0;
  let first = true;
  const n = raw.length;
  while (pos < n) {
    const nl = raw.indexOf('\n', pos);
    const lineEnd = nl < 0 ? n : nl;
    const end = lineEnd > pos && raw.charCodeAt(lineEnd - 1) === 13 ? lineEnd - 1 : lineEnd;
    const next = nl < 0 ? n : nl + 1;
    if (end === pos) {
      return headers.length > 0 ? { headers, body: raw.slice(next) } : { headers, body: raw };
    }
    const c = raw.charCodeAt(pos);
    if ((c === 32 || c === 9) && current !== null) {
      if (current.value.length < MAX_HEADER_VALUE) {
        current.value = `${current.value} ${raw.slice(pos, end).trim()}`.slice(0, MAX_HEADER_VALUE);
      }
    } else {
      const colon = raw.indexOf(':', pos);
      if (colon > pos && colon < end && isHeaderName(raw, pos, colon)) {
        if (headers.length >= MAX_HEADERS) {
          current = null;
        } else {
          current = {
            name: raw.slice(pos, colon).toLowerCase(),
            value: raw.slice(colon + 1, Math.min(end, colon + 1 + MAX_HEADER_VALUE)).trim(),
          };
          headers.push(current);
        }
      } else if (!(first && raw.startsWith('From ', pos))) {
        return headers.length > 0 ? { headers, body: raw.slice(pos) } : { headers, body: raw };
      }
    }
    first = false;
    pos = next;
    if (pos > MAX_HEADER_BLOCK) return { headers, body: raw.slice(pos) };
  }
  return headers.length > 0 ? { headers, body: '' } : { headers, body: raw };
}

/** The first header with this (lowercase) name, or undefined. */
export function headerValue(headers: readonly Header[], name: string): string | undefined {
  for (const h of headers) if (h.name === name) return h.value;
  return undefined;
}

export interface ContentType {
  /** e.g. `text/html`, lowercased; '' when absent. */
  mime: string;
  charset: string;
  boundary: string;
  name: string;
}

const PARAM = /;\s*([\w.*-]+)\s*=\s*(?:"([^"]*)"|([^;\s]*))/g;

export function parseContentType(value: string | undefined): ContentType {
  const out: ContentType = { mime: '', charset: '', boundary: '', name: '' };
  if (value === undefined) return out;
  const semi = value.indexOf(';');
  out.mime = (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase().slice(0, 64);
  PARAM.lastIndex = 0;
  for (let m = PARAM.exec(value); m !== null; m = PARAM.exec(value)) {
    const key = (m[1] ?? '').toLowerCase();
    const v = m[2] ?? m[3] ?? '';
    if (key === 'charset') out.charset = v.toLowerCase().slice(0, 32);
    else if (key === 'boundary') out.boundary = v;
    else if (key === 'name' || key === 'filename') out.name = v.slice(0, 128);
  }
  return out;
}

let utf8: TextDecoder | undefined;
let utf8Strict: TextDecoder | undefined;

/** The bytes of a byte string, or null when it is pure ASCII (nothing to decode). */
function toBytes(s: string): Uint8Array | null {
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 127) {
      ascii = false;
      break;
    }
  }
  if (ascii) return null;
  const arr = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) arr[i] = s.charCodeAt(i);
  return arr;
}

const CP1252: Record<number, number> = {
  128: 0x20ac,
  130: 0x201a,
  131: 0x0192,
  132: 0x201e,
  133: 0x2026,
  134: 0x2020,
  135: 0x2021,
  136: 0x02c6,
  137: 0x2030,
  138: 0x0160,
  139: 0x2039,
  140: 0x0152,
  142: 0x017d,
  145: 0x2018,
  146: 0x2019,
  147: 0x201c,
  148: 0x201d,
  149: 0x2022,
  150: 0x2013,
  151: 0x2014,
  152: 0x02dc,
  153: 0x2122,
  154: 0x0161,
  155: 0x203a,
  156: 0x0153,
  158: 0x017e,
  159: 0x0178,
};

/** True when every code unit is a byte (0-255): the string can be read as bytes. */
function isBinary(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 255) return false;
  return true;
}

/**
 * Decodes a byte string (one char per byte) in `charset`: UTF-8 through TextDecoder (invalid sequences become
 * U+FFFD, per the WHATWG spec, identically in Node and workerd), undeclared/us-ascii as UTF-8 when valid and
 * Latin-1 otherwise, windows-1252 by its table, anything else as Latin-1 (unknown multi-byte charsets stay
 * deterministic garbage; their name is a feature of its own).
 */
export function decodeBytes(bytes: string, charset: string): string {
  if (!isBinary(bytes)) return bytes;
  if (charset === 'utf-8' || charset === 'utf8') {
    const arr = toBytes(bytes);
    if (arr === null) return bytes;
    utf8 ??= new TextDecoder('utf-8');
    return utf8.decode(arr);
  }
  if (charset === '' || charset === 'us-ascii') {
    // Undeclared 8-bit text: UTF-8 when it is valid UTF-8, Latin-1 otherwise.
    const arr = toBytes(bytes);
    if (arr === null) return bytes;
    utf8Strict ??= new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
    try {
      return utf8Strict.decode(arr);
    } catch {
      return bytes;
    }
  }
  if (charset === 'windows-1252' || charset === 'cp1252') {
    let out = '';
    let from = 0;
    for (let i = 0; i < bytes.length; i++) {
      const mapped = CP1252[bytes.charCodeAt(i)];
      if (mapped !== undefined) {
        out += bytes.slice(from, i) + String.fromCharCode(mapped);
        from = i + 1;
      }
    }
    return from === 0 ? bytes : out + bytes.slice(from);
  }
  return bytes;
}

/** Forgiving base64 to a byte string; ignores anything outside the alphabet; never throws. */
export function decodeBase64(s: string): string {
  const clean = s.replace(/[^A-Za-z0-9+/]/g, '');
  const usable = clean.length - (clean.length % 4 === 1 ? 1 : 0);
  try {
    return atob(clean.slice(0, usable));
  } catch {
    return '';
  }
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** Quoted-printable to a byte string (`=XX` escapes and soft line breaks); `underscoreIsSpace` for RFC 2047 Q. */
export function decodeQuotedPrintable(s: string, underscoreIsSpace = false): string {
  if (s.indexOf('=') < 0 && !(underscoreIsSpace && s.indexOf('_') >= 0)) return s;
  let out = '';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 95 && underscoreIsSpace) {
      out += `${s.slice(from, i)} `;
      from = i + 1;
    } else if (c === 61) {
      const a = s.charCodeAt(i + 1);
      if (a === 10 || a === 13) {
        out += s.slice(from, i);
        i += a === 13 && s.charCodeAt(i + 2) === 10 ? 2 : 1;
        from = i + 1;
        continue;
      }
      const hi = hexVal(a);
      const lo = hexVal(s.charCodeAt(i + 2));
      if (hi >= 0 && lo >= 0) {
        out += s.slice(from, i) + String.fromCharCode(hi * 16 + lo);
        i += 2;
        from = i + 1;
      }
    }
  }
  return out + s.slice(from);
}

const ENCODED_WORD = /=\?([^?\s]{1,40})\?([bBqQ])\?([^?\s]*)\?=/g;

/** Decodes RFC 2047 encoded words in a header value; reports each charset seen through `onCharset`. */
export function decodeHeaderWords(value: string, onCharset?: (charset: string) => void): string {
  if (value.indexOf('=?') < 0) return value;
  ENCODED_WORD.lastIndex = 0;
  return value
    .replace(ENCODED_WORD, (_m, cs: string, enc: string, text: string) => {
      const charset = cs.toLowerCase().split('*')[0] ?? '';
      onCharset?.(charset);
      const bytes = enc === 'b' || enc === 'B' ? decodeBase64(text) : decodeQuotedPrintable(text, true);
      return decodeBytes(bytes, charset);
    })
    .replace(/\?=\s+=\?/g, '?==?');
}

/** Decodes a part body by its Content-Transfer-Encoding and charset. */
export function decodeBody(body: string, encoding: string, charset: string, maxChars: number): string {
  if (encoding === 'base64') {
    return decodeBytes(decodeBase64(body.slice(0, Math.ceil((maxChars * 4) / 3) + 4)), charset).slice(
      0,
      maxChars,
    );
  }
  const cut = body.length > maxChars * 3 ? body.slice(0, maxChars * 3) : body;
  if (encoding === 'quoted-printable')
    return decodeBytes(decodeQuotedPrintable(cut), charset).slice(0, maxChars);
  return decodeBytes(cut, charset).slice(0, maxChars);
}

export interface TextPart {
  html: boolean;
  text: string;
}

export interface MimeWalk {
  parts: TextPart[];
  /** Structure tokens: content types, transfer encodings, charsets, attachment types. */
  meta: string[];
}

const HTML_HINT = /<(?:html|body|head|div|p|br|table|tr|td|font|a|span|img|center|b|meta|!doctype)\b/i;

/** True when a text looks like HTML (checked on its first 4 KB). */
export function looksLikeHtml(text: string): boolean {
  return HTML_HINT.test(text.length > 4096 ? text.slice(0, 4096) : text);
}

const MAX_PARTS = 24;
const MAX_DEPTH = 4;

function splitMultipart(body: string, boundary: string): string[] {
  const delim = `--${boundary}`;
  const parts: string[] = [];
  let pos = body.indexOf(delim);
  while (pos >= 0 && parts.length < MAX_PARTS) {
    const after = pos + delim.length;
    if (body.startsWith('--', after)) break;
    const lineEnd = body.indexOf('\n', after);
    if (lineEnd < 0) break;
    const next = body.indexOf(`\n${delim}`, lineEnd);
    parts.push(body.slice(lineEnd + 1, next < 0 ? body.length : next));
    pos = next < 0 ? -1 : next + 1;
  }
  return parts;
}

/**
 * Walks the MIME tree of a message (headers + body) and returns its text parts (decoded, at most `maxChars`
 * characters in all) and structure tokens.
 */
export function walkMime(headers: readonly Header[], body: string, maxChars: number): MimeWalk {
  const out: MimeWalk = { parts: [], meta: [] };
  let budget = maxChars;
  const visit = (hs: readonly Header[], b: string, depth: number): void => {
    if (out.meta.length > 64) return;
    const ct = parseContentType(headerValue(hs, 'content-type'));
    const cte = (headerValue(hs, 'content-transfer-encoding') ?? '').trim().toLowerCase().slice(0, 32);
    const mime = ct.mime;
    out.meta.push(`ct:${mime}`);
    if (cte !== '') out.meta.push(`cte:${cte}`);
    if (ct.charset !== '') out.meta.push(`cs:${ct.charset}`);
    if (mime.startsWith('multipart/')) {
      if (ct.boundary === '' || depth >= MAX_DEPTH) return;
      for (const part of splitMultipart(b, ct.boundary)) {
        const inner = splitMessage(part);
        visit(inner.headers, inner.body, depth + 1);
      }
      return;
    }
    if (mime === 'message/rfc822' && depth < MAX_DEPTH) {
      const inner = splitMessage(b);
      visit(inner.headers, inner.body, depth + 1);
      return;
    }
    const isText = mime === '' || mime.startsWith('text/');
    if (!isText || (ct.name !== '' && mime !== 'text/html' && mime !== 'text/plain')) {
      const dot = ct.name.lastIndexOf('.');
      if (dot >= 0)
        out.meta.push(
          `ext:${ct.name
            .slice(dot + 1)
            .toLowerCase()
            .slice(0, 8)}`,
        );
      return;
    }
    if (budget <= 0) return;
    const text = decodeBody(b, cte, ct.charset, budget);
    budget -= text.length;
    out.parts.push({ html: mime === 'text/html' || looksLikeHtml(text), text });
  };
  visit(headers, body, 0);
  return out;
}
