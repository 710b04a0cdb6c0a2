/**
 * Header-less views of a corpus message: what API clients send instead of a full RFC 822 message. The corpus always
 * has full headers; clients often send a bare body, a subject and a line, or a chat-length note. Views are used to
 * train (every training message also teaches its views, same label, so headers are evidence when present and their
 * absence is not evidence of spam) and to evaluate (each view of the test split is scored on its own).
 *
 * The text of a view is the message's decoded text parts (quoted-printable/base64 and charsets undone, HTML turned
 * into its visible text), as a client would paste it.
 */
import { htmlToText } from '../../../shared/featurizer/html.ts';
import { decodeHeaderWords, headerValue, splitMessage, walkMime } from '../../../shared/featurizer/mime.ts';

/** The evaluated views: the message as is, and three header-less ones. */
export const VIEWS = ['full', 'body', 'subject_body', 'first200'] as const;
export type ViewName = (typeof VIEWS)[number];

const MAX_BODY_CHARS = 32_768;

/** The decoded subject and plain body text of a raw message (a text without headers is all body). */
export function plainParts(raw: string): { subject: string; body: string } {
  const { headers, body } = splitMessage(raw);
  if (headers.length === 0) return { subject: '', body: tidy(body) };
  const subject = decodeHeaderWords(headerValue(headers, 'subject') ?? '').trim();
  const texts = walkMime(headers, body, MAX_BODY_CHARS).parts.map((p) =>
    p.html ? htmlToText(p.text).text : p.text,
  );
  return { subject, body: tidy(texts.join('\n\n')) };
}

/** Collapses spaces within lines and runs of blank lines, trims (what a pasted text looks like). */
function tidy(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .map((line) => line.replace(/[ \t]+/g, ' ').trim())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** The first `n` characters of a text, cut back to the last word boundary when there is one. */
export function prefix(text: string, n: number): string {
  if (text.length <= n) return text;
  const cut = text.slice(0, n);
  const space = cut.search(/\s\S*$/);
  return (space > n / 2 ? cut.slice(0, space) : cut).trimEnd();
}

function subjectAndBody(subject: string, body: string): string {
  return subject === '' ? body : body === '' ? subject : `${subject}\n\n${body}`;
}

/** One view of a raw message. */
export function messageView(raw: string, view: ViewName): string {
  if (view === 'full') return raw;
  const { subject, body } = plainParts(raw);
  if (view === 'body') return body;
  if (view === 'subject_body') return subjectAndBody(subject, body);
  return prefix(body, 200);
}

/**
 * The extra training texts of one message: body only, subject + body, and `snippets` prefixes of its body of
 * 50-300 characters (lengths from `random`, so the set is seeded). Empty views are left out.
 */
export function trainingViews(raw: string, random: () => number, snippets = 2): string[] {
  const { subject, body } = plainParts(raw);
  const out = [body, subjectAndBody(subject, body)];
  for (let i = 0; i < snippets; i++) out.push(prefix(body, 50 + Math.floor(random() * 251)));
  return out.filter((t) => t.trim() !== '');
}
