/**
 * Hostile messages for the featurizer: inputs built to make pattern scans backtrack (long runs with no closing
 * '>', quote, '@' or ')', repeated openers), each about `size` characters, plus a normal message of the same
 * length to compare with. Used by the featurizer's tests (their features) and by `npm run bench:featurizer` (their
 * cost). Runs in workerd and Node.
 */

/** `unit` repeated to `size` characters. */
function fill(unit: string, size: number): string {
  return unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
}

/** A header block followed by `body`, as a raw RFC 822 message. */
function message(headers: string[], body: string): string {
  return `${headers.join('\n')}\n\n${body}`;
}

/** Header lines of up to `valueSize` characters each, repeated until the block is about `size` characters. */
function headerBlock(name: string, value: string, size: number, valueSize = 2000): string[] {
  const line = `${name}: ${fill(value, valueSize)}`;
  return Array.from({ length: Math.max(1, Math.floor(size / line.length)) }, () => line);
}

export interface HostileInput {
  name: string;
  text: string;
}

/** The hostile set, each message about `size` characters (32 KB by default). */
export function hostileMessages(size = 32 * 1024): HostileInput[] {
  const html = (body: string) => `<html><body>${body}`;
  return [
    { name: 'unclosed <a tags', text: html(fill('<a', size)) },
    { name: 'unclosed <a href=" attributes', text: html(fill('<a href="', size)) },
    { name: 'unclosed <script openers', text: html(fill('<script', size)) },
    { name: 'unclosed <style openers', text: html(fill('<STYLE', size)) },
    { name: 'closing-tag openers </a', text: html(fill('</a', size)) },
    { name: 'opened script, unclosed </script runs', text: html(`<script>${fill('</script ', size)}`) },
    { name: 'tag names too long to be tags', text: html(fill(`<${'a'.repeat(40)}`, size)) },
    { name: 'unclosed comments', text: html(fill('<!--', size)) },
    { name: 'one tag with huge attributes', text: html(`<a ${fill('href=x ', size)}>`) },
    { name: 'attributes with unclosed quotes', text: html(`<a ${fill('href=\'x href="y ', size)}>`) },
    { name: 'entity openers', text: html(fill('&#x1&amp', size)) },
    { name: 'to/cc without @', text: message(headerBlock('To', 'a', size), 'hello') },
    { name: 'to/cc of @ runs', text: message(headerBlock('Cc', 'a@', size), 'hello') },
    { name: 'from without @ or >', text: message(headerBlock('From', 'x<y', size), 'hello') },
    { name: 'reply-to without @', text: message(headerBlock('Reply-To', 'b.', size), 'hello') },
    { name: 'date of unclosed comments', text: message(headerBlock('Date', 'A (', size), 'hello') },
    { name: 'date of spaces', text: message(headerBlock('Date', 'A      ', size), 'hello') },
    {
      name: 'subject of encoded-word openers',
      text: message(headerBlock('Subject', '=?utf-8?q?', size), 'hi'),
    },
    {
      name: 'content-type of unclosed parameters',
      text: message(headerBlock('Content-Type', '; a="', size), 'hello'),
    },
    { name: 'body of one long word', text: fill('a', size) },
    { name: 'body of dotted runs', text: fill('a.', size) },
    { name: 'body of @ runs', text: fill('a@', size) },
    { name: 'body of url openers', text: fill('http://', size) },
    { name: 'body of www runs', text: fill('www.', size) },
    { name: 'body of emoji and combining marks', text: fill('\u{1F600}e\u0301', size) },
    {
      name: 'quoted-printable of escapes',
      text: message(['Content-Transfer-Encoding: quoted-printable'], fill('=3D=', size)),
    },
    {
      name: 'base64 garbage',
      text: message(['Content-Transfer-Encoding: base64'], fill('!@#$ QUJD', size)),
    },
    {
      name: 'multipart of empty parts',
      text: message(
        ['Content-Type: multipart/mixed; boundary="b"'],
        fill('--b\nContent-Type: text/html\n\n<a\n', size),
      ),
    },
  ];
}

/** A normal message of about `size` characters: headers and English prose, a link or two, some HTML. */
export function normalMessage(size = 32 * 1024): string {
  const paragraph =
    'Hi all, the meeting moved to Thursday at 10am; the minutes from last week are attached. ' +
    'Please read <a href="https://example.com/notes">the notes</a> before then and send comments to ' +
    'jane.doe@example.com. Thanks, and see you there! ';
  return message(
    [
      'From: Jane Doe <jane.doe@example.com>',
      'To: team@example.com, "Bob" <bob@example.org>',
      'Date: Thu, 22 Aug 2002 18:26:25 +0700 (ICT)',
      'Subject: Meeting notes for Thursday',
      'Content-Type: text/html; charset="utf-8"',
    ],
    `<html><body><p>${fill(paragraph, size)}</p></body></html>`,
  );
}
