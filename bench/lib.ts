/** What the stack benchmarks share: settings from the environment, output, rounding. */

/** A number from `name` in the environment, `fallback` when unset; throws naming the variable when out of range. */
export function envNumber(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new TypeError(`${name} must be a number in [${min}, ${max}], got ${raw}`);
  return n;
}

/** An integer setting, as envNumber. */
export function envInt(name: string, fallback: number, min: number, max: number): number {
  const n = envNumber(name, fallback, min, max);
  if (!Number.isInteger(n)) throw new TypeError(`${name} must be an integer, got ${process.env[name]}`);
  return n;
}

/** One line of progress on stdout (the last line a benchmark prints is its JSON). */
export const log = (line: string) => process.stdout.write(`${line}\n`);

export const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
