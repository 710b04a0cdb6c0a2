import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../shared/random/index.ts';
import { EVERYDAY_STYLES, EVERYDAY_TEXTS } from './everyday.ts';
import { messageView, plainParts, prefix, trainingViews, VIEWS } from './views.ts';

const MIME = [
  'From: Ann <ann@example.com>',
  'Subject: =?utf-8?q?Caf=C3=A9_meeting?=',
  'Content-Type: multipart/alternative; boundary="b1"',
  '',
  '--b1',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: quoted-printable',
  '',
  'Hi team,=0A=0A=0A=0Athe caf=C3=A9 is booked for Friday.   ',
  '--b1',
  'Content-Type: text/html',
  '',
  '<html><body><p>Hi <b>team</b>, see <a href="http://x.example">the map</a></p></body></html>',
  '--b1--',
  '',
].join('\n');

describe('header-less views of a message', () => {
  it('decodes the subject and every text part (QP, charset, HTML to text), tidied', () => {
    const { subject, body } = plainParts(MIME);
    expect(subject).toBe('Café meeting');
    expect(body).toContain('Hi team,\n\nthe café is booked for Friday.');
    expect(body).toMatch(/Hi team ?, see the map/);
    expect(body).not.toMatch(/<|=0A|\n{3}| \n/);
  });

  it('gives each evaluated view; a text without headers is all body', () => {
    expect(messageView(MIME, 'full')).toBe(MIME);
    expect(messageView(MIME, 'body').startsWith('Hi team,')).toBe(true);
    expect(messageView(MIME, 'subject_body').startsWith('Café meeting\n\nHi team,')).toBe(true);
    expect(messageView(MIME, 'first200').length).toBeLessThanOrEqual(200);
    expect(messageView('just a note', 'subject_body')).toBe('just a note');
    expect(VIEWS).toEqual(['full', 'body', 'subject_body', 'first200']);
  });

  it('prefix cuts at a word boundary when one is near, else at n', () => {
    expect(prefix('short', 10)).toBe('short');
    expect(prefix('hello brave new world', 14)).toBe('hello brave');
    expect(prefix('x'.repeat(30), 10)).toBe('x'.repeat(10));
  });

  it('training views are seeded, non-empty, with snippets of 50-300 characters', () => {
    const body = Array.from({ length: 80 }, (_, i) => `word${i}`).join(' ');
    const raw = `Subject: s\n\n${body}`;
    const a = trainingViews(raw, mulberry32(3), 3);
    expect(trainingViews(raw, mulberry32(3), 3)).toEqual(a);
    expect(a).toHaveLength(5);
    expect(a[0]).toBe(body);
    expect(a[1]).toBe(`s\n\n${body}`);
    for (const snippet of a.slice(2)) {
      expect(snippet.length).toBeGreaterThanOrEqual(25);
      expect(snippet.length).toBeLessThanOrEqual(300);
      expect(body.startsWith(snippet)).toBe(true);
    }
    expect(trainingViews('Subject: only headers\n\n', mulberry32(1))).toEqual(['only headers']);
  });

  it('the everyday fixture is labelled, varied, unique and never empty', () => {
    expect(EVERYDAY_TEXTS.length).toBeGreaterThanOrEqual(300);
    expect(EVERYDAY_TEXTS.filter((t) => t.label === 0).length).toBeGreaterThanOrEqual(200);
    expect(EVERYDAY_TEXTS.filter((t) => t.label === 1).length).toBeGreaterThanOrEqual(100);
    // Every style is used, and each style is all ham or all spam.
    expect(new Set(EVERYDAY_TEXTS.map((t) => t.style))).toEqual(new Set(EVERYDAY_STYLES));
    for (const style of EVERYDAY_STYLES)
      expect(new Set(EVERYDAY_TEXTS.filter((t) => t.style === style).map((t) => t.label)).size, style).toBe(
        1,
      );
    // Unique, also up to case, spacing and trailing punctuation.
    const key = (text: string) =>
      text
        .toLowerCase()
        .replace(/\s+/g, ' ')
        .replace(/[\s.!?]+$/, '');
    expect(new Set(EVERYDAY_TEXTS.map((t) => key(t.text))).size).toBe(EVERYDAY_TEXTS.length);
    for (const t of EVERYDAY_TEXTS) {
      expect(t.text.trim()).not.toBe('');
      expect(t.text.length).toBeLessThanOrEqual(400);
    }
  });
});
