/**
 * Peer baseline: the Bayesian spam filter bogofilter (Debian package `bogofilter`), trained on our train split in a
 * fresh temporary database and run over the scored messages. Each message is written to its own file and passed in
 * bulk mode (`-b`, file names on stdin), so a file is exactly one message: body lines beginning with "From " do not
 * split it (as they would on stdin or in an mbox). Config files are ignored (`-C`): bogofilter's built-in defaults.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Message } from '../data/corpus.ts';

export interface PeerScores {
  name: 'bogofilter';
  /** bogofilter's `-V` first line, e.g. `bogofilter version 1.2.5`. */
  version: string;
  /** Writing the training files and registering them. */
  train_seconds: number;
  /** Writing the scored files and classifying them. */
  score_seconds: number;
  /**
   * bogofilter's spamicity per scored message, in order, in [0, 1]: read at full precision (`-TT`), then stored
   * as float32. Conflicting evidence puts some messages within 1e-6 of 0.5, where a 0.5 threshold is a coin toss.
   */
  spam_probs: Float32Array;
  /** bogofilter's own 'U' (unsure) classification per message (built-in cutoffs: ham 0.45, spam 0.99). */
  unsure: boolean[];
}

export type PeerUnavailable = { name: 'bogofilter'; available: false; reason: string };

/** Prefix of the temporary directories (under `os.tmpdir()`), each removed when its call ends. */
export const BOGOFILTER_TMP_PREFIX = 'bogofilter-peer-';

const UNAVAILABLE_REASON = 'bogofilter not found on PATH (apt-get install bogofilter)';

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `cmd args` without a shell, feeding `input` to stdin; rejects only when the process cannot start. */
function run(cmd: string, args: readonly string[], options: { cwd?: string; input?: string } = {}) {
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env: { ...process.env, LC_ALL: 'C' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    // A process that exits before reading all of stdin makes the write fail with EPIPE: its exit code tells.
    child.stdin.on('error', () => {});
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
    child.stdin.end(options.input ?? '');
  });
}

function failure(what: string, r: RunResult): Error {
  const status = r.signal ? `signal ${r.signal}` : `exit code ${r.code}`;
  return new Error(`bogofilter: ${what} failed (${status}): ${r.stderr.trim().slice(0, 500)}`);
}

/** Whether bogofilter can run here (spawns `bogofilter -V`), with its version line. */
export async function bogofilterVersion(): Promise<string | undefined> {
  try {
    const r = await run('bogofilter', ['-V']);
    if (r.code !== 0) return undefined;
    const line = r.stdout.split('\n')[0]?.trim();
    return line?.startsWith('bogofilter') ? line : undefined;
  } catch {
    return undefined;
  }
}

/** Writes `messages` to `<dir>/<6-digit index>` from index `first` on; returns the names (relative to `dir`). */
async function writeMessages(dir: string, messages: readonly Message[], first = 0): Promise<string[]> {
  const names = messages.map((_, i) => String(first + i).padStart(6, '0'));
  const chunk = 64;
  for (let i = 0; i < messages.length; i += chunk) {
    await Promise.all(
      messages.slice(i, i + chunk).map((m, j) => writeFile(join(dir, names[i + j] as string), m.text)),
    );
  }
  return names;
}

/** Spam and ham message counts of the wordlist in `db` (`bogoutil -w db .MSG_COUNT`). */
async function messageCounts(db: string): Promise<{ spam: number; ham: number }> {
  const r = await run('bogoutil', ['-w', db, '.MSG_COUNT']).catch((e: unknown) => {
    throw new Error(`bogofilter: cannot run bogoutil (it ships with bogofilter): ${String(e)}`);
  });
  if (r.code !== 0) throw failure('bogoutil -w .MSG_COUNT', r);
  const m = /^\.MSG_COUNT\s+(\d+)\s+(\d+)\s*$/m.exec(r.stdout);
  if (!m) throw new Error(`bogofilter: cannot parse bogoutil's message counts: ${JSON.stringify(r.stdout)}`);
  return { spam: Number(m[1]), ham: Number(m[2]) };
}

/**
 * Registers the files `names` (in `cwd`) in a new wordlist `db`, spam where `labels` is 1, ham otherwise, in bulk
 * mode (`-b`, one message per file); throws unless bogofilter's message counts match.
 */
async function register(db: string, cwd: string, names: readonly string[], labels: readonly number[]) {
  await mkdir(db);
  const expected = { spam: 0, ham: 0 };
  for (const [flag, label, kind] of [
    ['-s', 1, 'spam'],
    ['-n', 0, 'ham'],
  ] as const) {
    const list = names.filter((_, i) => (labels[i] === 1 ? 1 : 0) === label);
    if (list.length === 0) continue;
    const r = await run('bogofilter', ['-C', '-d', db, flag, '-b'], { cwd, input: `${list.join('\n')}\n` });
    if (r.code !== 0) throw failure(`registration ${flag}`, r);
    expected[kind] = list.length;
  }
  const counts = await messageCounts(db);
  if (counts.spam !== expected.spam || counts.ham !== expected.ham) {
    throw new Error(
      `bogofilter: registered ${counts.spam} spam / ${counts.ham} ham, expected ${expected.spam} / ${expected.ham}`,
    );
  }
}

/** Classifies the files `names` (in `cwd`) in bulk mode; one `name field` line per file, else throws. */
async function classify(db: string, cwd: string, names: readonly string[], mode: '-T' | '-TT') {
  const r = await run('bogofilter', ['-C', '-d', db, mode, '-b'], { cwd, input: `${names.join('\n')}\n` });
  // Exit codes 0, 1, 2 are spam, ham, unsure (of the last file); 3 is an error.
  if (r.code === null || r.code > 2) throw failure(`classification ${mode} -b`, r);
  const index = new Map(names.map((n, i) => [n, i]));
  const fields = new Array<string | undefined>(names.length);
  let parsed = 0;
  for (const line of r.stdout.split('\n')) {
    if (line === '') continue;
    const sp = line.indexOf(' ');
    const i = index.get(line.slice(0, sp));
    if (sp < 0 || i === undefined || fields[i] !== undefined) {
      throw new Error(`bogofilter: unexpected output line ${JSON.stringify(line)}`);
    }
    fields[i] = line.slice(sp + 1);
    parsed++;
  }
  if (parsed !== names.length) throw new Error(`bogofilter: ${parsed} scores for ${names.length} messages`);
  return fields as string[];
}

/**
 * Scores the files `names` (in `cwd`) against `db`: the spamicity at full precision (`-TT`) and bogofilter's own
 * class (`-T`: S, H or U), each checked to cover every file exactly once.
 */
async function scoreFiles(db: string, cwd: string, names: readonly string[]) {
  const spam_probs = new Float32Array(names.length);
  const unsure = new Array<boolean>(names.length).fill(false);
  if (names.length === 0) return { spam_probs, unsure };
  // Two read-only passes over the same wordlist, run side by side.
  const [precise, terse] = await Promise.all([
    classify(db, cwd, names, '-TT'),
    classify(db, cwd, names, '-T'),
  ]);
  for (let i = 0; i < names.length; i++) {
    const p = Number(precise[i]);
    const c = /^([SHU]) \S+$/.exec(terse[i] as string);
    if (!(p >= 0 && p <= 1) || !c) {
      throw new Error(`bogofilter: unexpected scores ${JSON.stringify([precise[i], terse[i]])}`);
    }
    spam_probs[i] = p;
    unsure[i] = c[1] === 'U';
  }
  return { spam_probs, unsure };
}

/** Runs `fn` with a new temporary directory holding an empty `msg/` folder; removes the directory after. */
async function withTempDir<T>(fn: (root: string, msgDir: string) => Promise<T>): Promise<T> {
  const root = await mkdtemp(join(tmpdir(), BOGOFILTER_TMP_PREFIX));
  try {
    const msgDir = join(root, 'msg');
    await mkdir(msgDir);
    return await fn(root, msgDir);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** Trains a fresh bogofilter database (temp dir, removed after) on `train`, scores every message of `score`. */
export async function bogofilterScores(
  train: readonly Message[],
  score: readonly Message[],
): Promise<PeerScores | PeerUnavailable> {
  const version = await bogofilterVersion();
  if (version === undefined) return { name: 'bogofilter', available: false, reason: UNAVAILABLE_REASON };
  if (train.length === 0) throw new RangeError('bogofilter: nothing to train on');
  return withTempDir(async (root, msgDir) => {
    const t0 = performance.now();
    const trainNames = await writeMessages(msgDir, train);
    await register(
      join(root, 'db'),
      msgDir,
      trainNames,
      train.map((m) => m.label),
    );
    const train_seconds = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    const scoreNames = await writeMessages(msgDir, score, train.length);
    const scored = await scoreFiles(join(root, 'db'), msgDir, scoreNames);
    const score_seconds = (performance.now() - t1) / 1000;
    return { name: 'bogofilter', version, train_seconds, score_seconds, ...scored };
  });
}

/** Fold of `key` in 0..folds-1: the first 32 bits of sha256 of the key, modulo `folds`. */
export function foldOf(key: string, folds: number): number {
  return createHash('sha256').update(key).digest().readUInt32BE(0) % folds;
}

/**
 * k-fold cross-validated accuracy (spam when the float32 prob >= 0.5) over `messages`, folds assigned by a stable
 * hash of message.key (deterministic), each fold trained on the others. Throws RangeError when a fold is empty.
 */
export async function bogofilterCrossValidation(
  messages: readonly Message[],
  folds = 5,
): Promise<{ accuracy: number; per_fold: number[]; errors: number; n: number } | PeerUnavailable> {
  if (!Number.isInteger(folds) || folds < 2) {
    throw new RangeError(`bogofilter: folds must be an integer >= 2, got ${folds}`);
  }
  const version = await bogofilterVersion();
  if (version === undefined) return { name: 'bogofilter', available: false, reason: UNAVAILABLE_REASON };

  const fold = messages.map((m) => foldOf(m.key, folds));
  for (let k = 0; k < folds; k++) {
    if (!fold.includes(k)) throw new RangeError(`bogofilter: fold ${k} of ${folds} is empty`);
  }
  return withTempDir(async (root, msgDir) => {
    // Every message is written once; each fold registers the other folds' files in its own wordlist.
    const names = await writeMessages(msgDir, messages);
    const per_fold: number[] = [];
    let errors = 0;
    for (let k = 0; k < folds; k++) {
      const trainIdx = messages.flatMap((_, i) => (fold[i] === k ? [] : [i]));
      const heldIdx = messages.flatMap((_, i) => (fold[i] === k ? [i] : []));
      const db = join(root, `db-${k}`);
      await register(
        db,
        msgDir,
        trainIdx.map((i) => names[i] as string),
        trainIdx.map((i) => (messages[i] as Message).label),
      );
      const { spam_probs } = await scoreFiles(
        db,
        msgDir,
        heldIdx.map((i) => names[i] as string),
      );
      let wrong = 0;
      heldIdx.forEach((i, j) => {
        if (((spam_probs[j] as number) >= 0.5 ? 1 : 0) !== (messages[i] as Message).label) wrong++;
      });
      per_fold.push((heldIdx.length - wrong) / heldIdx.length);
      errors += wrong;
      await rm(db, { recursive: true, force: true });
    }
    const n = messages.length;
    return { accuracy: (n - errors) / n, per_fold, errors, n };
  });
}
