/**
 * The origin tests' shared setup: temp model repositories and a started origin per test file (removed and stopped
 * after), metric scraping, and float comparison. Test-only, like the rest of testing/.
 */
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import type { OriginConfigInput } from '../src/config.ts';
import { type OriginServer, type OriginServerDeps, startOriginServer } from '../src/server.ts';
import { createModelRepository, type FixtureVersion, type TempRepository } from './fixtures.ts';

export interface TestOrigin {
  /** http://127.0.0.1:port of the started origin. */
  readonly url: string;
  readonly server: OriginServer;
  readonly repo: TempRepository;
}

function started<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is used before beforeAll ran`);
  return value;
}

/**
 * For the calling test file: before its tests, a temp repository holding `versions` and an origin serving it on
 * loopback (startOriginServer: unsigned unless `config.signingSecret`); after them, the origin stopped and the
 * repository removed.
 */
export function useOrigin(
  versions: FixtureVersion[],
  config: Omit<OriginConfigInput, 'modelRepository'> = {},
  deps: OriginServerDeps = {},
): TestOrigin {
  let repo: TempRepository | undefined;
  let origin: { server: OriginServer; url: string } | undefined;
  beforeAll(async () => {
    repo = await createModelRepository(versions);
    origin = await startOriginServer({ ...config, modelRepository: repo.root }, deps);
  });
  afterAll(async () => {
    await origin?.server.stop();
    await repo?.cleanup();
  });
  return {
    get url() {
      return started(origin, 'the origin').url;
    },
    get server() {
      return started(origin, 'the origin').server;
    },
    get repo() {
      return started(repo, 'the repository');
    },
  };
}

/** For the calling test file: a temp repository holding `versions`, made before its tests and removed after. */
export function useRepository(versions: FixtureVersion[]): { readonly root: string } {
  let repo: TempRepository | undefined;
  beforeAll(async () => {
    repo = await createModelRepository(versions);
  });
  afterAll(async () => {
    await repo?.cleanup();
  });
  return {
    get root() {
      return started(repo, 'the repository').root;
    },
  };
}

/** Makes temp repositories on demand within a test; each is removed after the test. */
export function useRepositories(): (...versions: FixtureVersion[]) => Promise<TempRepository> {
  const made: TempRepository[] = [];
  afterEach(async () => {
    for (const r of made.splice(0)) await r.cleanup();
  });
  return async (...versions) => {
    const r = await createModelRepository(versions);
    made.push(r);
    return r;
  };
}

/** The value of one series (`name{labels}`) in a Prometheus text exposition; undefined when absent. */
export function seriesValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

/**
 * The value of the one Prometheus sample `name` whose labels include `labels` (exposition text); undefined when there
 * is none, an Error when several match.
 */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const found: number[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = new Map([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) found.push(Number(m[3]));
  }
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0];
}

/** Scrapes `${url}/metrics` for one series; 0 when absent. */
export async function scrapeMetric(url: string, series: string): Promise<number> {
  return seriesValue(await (await fetch(`${url}/metrics`)).text(), series) ?? 0;
}

/** Equal to float rounding: the same rows may meet other kernels in batches of other sizes. */
export function expectClose(
  actual: ArrayLike<number> | undefined,
  expected: ArrayLike<number> | undefined,
  eps = 1e-5,
): void {
  expect(actual?.length).toBe(expected?.length);
  for (let i = 0; i < (expected?.length ?? 0); i++) {
    expect(Math.abs((actual?.[i] as number) - (expected?.[i] as number))).toBeLessThan(eps);
  }
}
