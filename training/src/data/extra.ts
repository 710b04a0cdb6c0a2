/**
 * Extra labelled training data: the human-review queue's export (edge GET /v1/review/export, one
 * `{"key": "review/<id>", "text", "label", ...}` per line) or any file of that shape, given to
 * `npm run train -- --extra <file>`.
 *
 * Extras never move corpus messages between splits (the corpus is split exactly as without them) and are placed by
 * their own key: the sha256 of `salt:key` as a fraction in [0, 1) against the split's shares, so an item lands in
 * the same split every time and adding one moves nothing else. An extra whose text is a corpus message's (a client
 * sent a test message and a reviewer labelled it) is dropped: no test item reaches training under another key.
 */
import { createHash } from 'node:crypto';
import { LABELS, type Message } from './corpus.ts';
import { type SplitOptions, type Splits, splitStratified } from './split.ts';

/** A line that could not be used: the file's line number and why. */
export class ExtraDataError extends Error {}

/** Reads extra labelled lines (NDJSON text); throws naming the first bad line. */
export function parseExtra(ndjson: string, source = 'extra data'): Message[] {
  const out: Message[] = [];
  const keys = new Set<string>();
  ndjson.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const where = `${source} line ${i + 1}`;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new ExtraDataError(`${where}: not valid JSON`);
    }
    const { key, text, label } = (v ?? {}) as { key?: unknown; text?: unknown; label?: unknown };
    if (typeof key !== 'string' || !/^[\w.-]{1,64}\/[\w.-]{1,128}$/.test(key)) {
      throw new ExtraDataError(`${where}: key must be "<group>/<id>" (e.g. review/rv_...)`);
    }
    if (typeof text !== 'string') throw new ExtraDataError(`${where}: text must be a string`);
    const index = LABELS.indexOf(label as (typeof LABELS)[number]);
    if (index < 0) throw new ExtraDataError(`${where}: label must be one of ${LABELS.join(', ')}`);
    if (keys.has(key)) throw new ExtraDataError(`${where}: key ${key} repeats`);
    keys.add(key);
    out.push({
      key,
      group: key.slice(0, key.indexOf('/')),
      label: index as 0 | 1,
      text,
      checksum: createHash('sha256').update(text).digest('hex'),
    });
  });
  return out;
}

/** The split an extra item goes to, by its key alone. */
export function splitOfKey(key: string, options: Required<SplitOptions>): keyof Splits<Message> {
  const h = createHash('sha256').update(`${options.salt}:${key}`).digest();
  const x = h.readUInt32BE(0) / 2 ** 32;
  return x < options.train ? 'train' : x < options.train + options.validation ? 'validation' : 'test';
}

export interface SplitWithExtra extends Splits<Message> {
  /** Extras placed per split, and those dropped because their text is a corpus message's. */
  extra: { train: number; validation: number; test: number; dropped_duplicates: number };
}

/** The corpus split as without extras, plus each extra in the split of its key. */
export function splitWithExtra(
  corpus: readonly Message[],
  extra: readonly Message[],
  options: Required<SplitOptions>,
): SplitWithExtra {
  const base = splitStratified(corpus, options);
  const texts = new Set(corpus.map((m) => m.text));
  const out: SplitWithExtra = {
    train: [...base.train],
    validation: [...base.validation],
    test: [...base.test],
    extra: { train: 0, validation: 0, test: 0, dropped_duplicates: 0 },
  };
  for (const m of extra) {
    if (texts.has(m.text)) {
      out.extra.dropped_duplicates++;
      continue;
    }
    const part = splitOfKey(m.key, options);
    out[part].push(m);
    out.extra[part]++;
  }
  return out;
}
