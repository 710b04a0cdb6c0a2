/**
 * The smoke run's judgement of one benchmark run (exit, last line, named fields), and that no benchmark can escape
 * it: every `bench:*` script of package.json has a smoke spec whose file exists.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BENCHMARKS, type SmokeSpec, smokeProblems } from './smoke.ts';

const ROOT = join(import.meta.dirname, '..');
const spec: SmokeSpec = { script: 'x.ts', issues: '#1', fields: ['bench', 'a', 'nested.b'] };
const good = JSON.stringify({ bench: 'x', a: 0, nested: { b: false }, extra: 1 });

describe('smokeProblems', () => {
  it('passes a run that exits 0 and ends with a JSON line holding every named field (0 and false count)', () => {
    expect(smokeProblems(spec, 'x', 0, `progress line\n{"not":"last"}\n${good}\n\n`)).toEqual([]);
  });

  it('fails a non-zero exit, a time limit or a signal, and says so', () => {
    expect(smokeProblems(spec, 'x', 1, good)).toEqual(['exited with code 1']);
    expect(smokeProblems(spec, 'x', 'ran past its 300 s limit', good)).toEqual(['ran past its 300 s limit']);
  });

  it('fails when the last line is not a JSON object', () => {
    for (const out of ['', `${good}\nDone.`, '[1,2]', 'null', '{"bench":'])
      expect(smokeProblems(spec, 'x', 0, out)[0]).toMatch(/^its last line is not a JSON object/);
  });

  it('names the missing, null and nested fields, and the issues that named them', () => {
    const out = JSON.stringify({ bench: 'x', a: null, nested: {} });
    expect(smokeProblems(spec, 'x', 0, out)).toEqual(['its JSON lacks a, nested.b (named in #1)']);
    expect(smokeProblems(spec, 'x', 0, JSON.stringify({ bench: 'x', a: 1, nested: [1] }))).toEqual([
      'its JSON lacks nested.b (named in #1)',
    ]);
  });

  it("fails a JSON line of another benchmark's name", () => {
    expect(smokeProblems(spec, 'y', 0, good)).toEqual(['its JSON says bench "x"']);
  });
});

describe('BENCHMARKS', () => {
  it('covers every bench:* script of package.json (but bench:smoke itself), each file existing', () => {
    const scripts = (
      JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    ).scripts;
    const benches = Object.keys(scripts)
      .filter((s) => s.startsWith('bench:') && s !== 'bench:smoke')
      .map((s) => s.slice('bench:'.length))
      .sort();
    expect(Object.keys(BENCHMARKS).sort()).toEqual(benches);
    for (const [name, s] of Object.entries(BENCHMARKS)) {
      expect(scripts[`bench:${name}`]).toBe(`node bench/${s.script}`);
      expect(existsSync(join(ROOT, 'bench', s.script))).toBe(true);
      expect(s.fields).toContain('bench');
    }
  });
});
