/**
 * The local stack's supervisor: a component that dies is restarted with backoff while the others keep running,
 * with real child processes (a small node script that exits after a while).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { type Supervised, supervise } from './supervise.ts';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

/** A component whose process exits with `code` after `lifeMs`, restarted as a fresh process. */
function component(name: string, lifeMs: number, code = 3): Supervised & { starts: number } {
  let child: ChildProcess;
  const start = () => {
    child = spawn(process.execPath, ['-e', `setTimeout(() => process.exit(${code}), ${lifeMs})`]);
    children.push(child);
  };
  start();
  const c = {
    name,
    starts: 1,
    exited: () =>
      new Promise<number | null>((resolve) => {
        if (child.exitCode !== null) resolve(child.exitCode);
        else child.once('exit', (exitCode) => resolve(exitCode));
      }),
    restart: async () => {
      c.starts++;
      start();
    },
  };
  return c;
}

describe('supervise', () => {
  it('restarts a dying component with growing backoff, says what died, and leaves the others running', async () => {
    const lines: string[] = [];
    const waits: number[] = [];
    const crashing = component('origin', 20);
    const steady = component('edge', 60_000);
    let stopping = false;
    const done = supervise([crashing, steady], {
      log: (line) => lines.push(line),
      stopping: () => stopping,
      sleep: async (ms) => {
        waits.push(ms);
      },
      initialBackoffMs: 100,
      maxBackoffMs: 400,
      stableAfterMs: 10_000,
    });
    const until = Date.now() + 10_000;
    while (crashing.starts < 5 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    stopping = true;
    expect(crashing.starts).toBeGreaterThanOrEqual(5);
    expect(steady.starts).toBe(1);
    expect(waits.slice(0, 4)).toEqual([100, 200, 400, 400]);
    expect(lines[0]).toMatch(/^origin exited \(code 3\); restarting in 0\.1 s$/);
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await done;
  });

  it('restarts nothing once stopping', async () => {
    const lines: string[] = [];
    const c = component('origin', 10);
    await supervise([c], { log: (l) => lines.push(l), stopping: () => true, sleep: async () => {} });
    expect(c.starts).toBe(1);
    expect(lines).toEqual([]);
  });
});
